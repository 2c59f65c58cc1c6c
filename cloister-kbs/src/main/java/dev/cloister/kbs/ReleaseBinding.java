package dev.cloister.kbs;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * The 64-byte report data of the release protocol. The first 32 bytes are SHA-256(nonce || ephemeral public key):
 * binding the key into the evidence is what stops a man in the middle from swapping in its own key, and the
 * nonce makes the evidence single-use. The second 32 bytes are either zero (the original form, still valid for
 * secrets whose policy has no {@code JOB:} clause) or the SHA-256 of the job record the enclave is about to run
 * (docs/jobs.md), which a policy's {@code JOB:<hex>} clause requires to equal the record the owner registered.
 *
 * <p>How an enclave uses it (the sim launcher does exactly this, and any other launcher must do the same): hash
 * the record it will run with {@code JobRecord.hash()}, make a fresh key pair, put
 * {@link #reportData(byte[], byte[], byte[]) reportData(nonce, publicKey, recordHash)} into its evidence, and
 * derive everything it runs from that same record.
 */
public final class ReleaseBinding {
    /** Length of the record hash in the second half. */
    public static final int RECORD_HASH_LENGTH = 32;

    private ReleaseBinding() {}

    /** The original 64-byte report data, with no record bound: SHA-256(nonce || key) || 32 zero bytes. */
    public static byte[] reportData(byte[] nonce, byte[] publicKey) {
        return Arrays.copyOf(binding(nonce, publicKey), 64);
    }

    /**
     * The 64-byte report data binding the nonce, the ephemeral key and the job record the enclave runs:
     * SHA-256(nonce || publicKey) || recordHash.
     *
     * @param recordHash the SHA-256 of the record's canonical encoding (32 bytes)
     * @throws IllegalArgumentException when {@code recordHash} is not 32 bytes
     */
    public static byte[] reportData(byte[] nonce, byte[] publicKey, byte[] recordHash) {
        if (recordHash == null || recordHash.length != RECORD_HASH_LENGTH) {
            throw new IllegalArgumentException("a record hash is " + RECORD_HASH_LENGTH + " bytes");
        }
        byte[] rd = Arrays.copyOf(binding(nonce, publicKey), 64);
        System.arraycopy(recordHash, 0, rd, 32, RECORD_HASH_LENGTH);
        return rd;
    }

    /**
     * Constant-time check that the evidence's report data starts with SHA-256(nonce || publicKey). The second half
     * is not judged here: it is zero or a record hash, and the secret's policy decides ({@code JOB:}).
     */
    public static boolean matches(byte[] reportData, byte[] nonce, byte[] publicKey) {
        return reportData != null && reportData.length == 64
                && MessageDigest.isEqual(Arrays.copyOf(reportData, 32), binding(nonce, publicKey));
    }

    /** The record hash in a report data's second half, or null when it is all zero (no record bound). */
    public static byte[] recordHash(byte[] reportData) {
        byte[] h = Arrays.copyOfRange(reportData, 32, 64);
        return MessageDigest.isEqual(h, new byte[RECORD_HASH_LENGTH]) ? null : h;
    }

    private static byte[] binding(byte[] nonce, byte[] publicKey) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(nonce);
            md.update(publicKey);
            return md.digest();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
