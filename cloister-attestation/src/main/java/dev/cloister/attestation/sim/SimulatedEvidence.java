package dev.cloister.attestation.sim;

/**
 * A simulated quote and its collateral.
 *
 * @param quote the quote bytes (SGX v3 or TDX v4/v5)
 * @param collateral QuoteCollateralV3 JSON, valid for the simulation's validity period from its time
 */
public record SimulatedEvidence(byte[] quote, byte[] collateral) {
    public SimulatedEvidence {
        quote = quote.clone();
        collateral = collateral.clone();
    }

    @Override public byte[] quote() { return quote.clone(); }
    @Override public byte[] collateral() { return collateral.clone(); }
}
