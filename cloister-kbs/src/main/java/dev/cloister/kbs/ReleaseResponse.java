package dev.cloister.kbs;

/**
 * A released secret, sealed with HPKE to the workload's ephemeral key.
 *
 * @param namespace the namespace
 * @param name the secret
 * @param version the version released
 * @param kind what the value is
 * @param kem the HPKE KEM used
 * @param enc the HPKE encapsulated key
 * @param ciphertext the sealed value; associated data is {@link HpkeSuite#aad(String, String, int)}
 */
public record ReleaseResponse(String namespace, String name, int version, SecretKind kind, HpkeSuite kem, byte[] enc,
        byte[] ciphertext) {}
