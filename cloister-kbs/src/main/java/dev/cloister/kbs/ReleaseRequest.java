package dev.cloister.kbs;

/**
 * A workload's request for a secret.
 *
 * @param namespace the owner's namespace
 * @param name the secret
 * @param version a specific version, or null for the newest active one
 * @param nonce the nonce from {@code GET /v1/nonce}
 * @param evidence the quote, whose report data is {@link ReleaseBinding#reportData(byte[], byte[])}
 * @param collateral QuoteCollateralV3 JSON, or null to let the verifier find it
 * @param kem the HPKE KEM of {@code publicKey}
 * @param publicKey the workload's ephemeral HPKE public key
 */
public record ReleaseRequest(String namespace, String name, Integer version, byte[] nonce, byte[] evidence,
        byte[] collateral, HpkeSuite kem, byte[] publicKey) {}
