/**
 * Appraisal of verified attestation evidence: which measurements, signers, TCB statuses, advisories and
 * platform settings an owner accepts. {@link dev.cloister.attestation.policy.Policies} reads the compact
 * constraint string and the YAML form; both produce a {@link dev.cloister.attestation.policy.ConstraintPolicy}.
 */
package dev.cloister.attestation.policy;
