package dev.cloister.attestation;

/**
 * What the evidence says was measured, per TEE type. Byte arrays are defensive copies: records in this package
 * never share mutable state with callers.
 */
public sealed interface Measurements permits SgxMeasurements, TdxMeasurements, SnpMeasurements {
    /** The TEE type these measurements belong to. */
    TeeType teeType();

    /** Whether the TEE was launched in debug mode (its memory is then readable by the host). */
    boolean debug();
}
