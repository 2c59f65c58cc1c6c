/**
 * Gramine interoperability: RA-TLS certificates (legacy quote extension and TCG DICE tagged evidence), a JSSE
 * trust manager that checks them, and Gramine's secret-provisioning protocol, byte for byte.
 */
package dev.cloister.kbs.gramine;
