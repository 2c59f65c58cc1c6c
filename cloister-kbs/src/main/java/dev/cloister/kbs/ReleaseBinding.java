package dev.cloister.kbs;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;

/**
 * The report data of the release protocol: SHA-256(nonce || ephemeral public key), then 32 zero bytes. Binding
 * the key into the evidence is what stops a man in the middle from swapping in its own key.
 */
public final class ReleaseBinding {
    private ReleaseBinding() {}

    /** The 64-byte report data a workload must put into its evidence. */
    public static byte[] reportData(byte[] nonce, byte[] publicKey) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(nonce);
            md.update(publicKey);
            return Arrays.copyOf(md.digest(), 64);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Constant-time check of the evidence's report data against the expected binding. */
    public static boolean matches(byte[] reportData, byte[] nonce, byte[] publicKey) {
        return MessageDigest.isEqual(reportData, reportData(nonce, publicKey));
    }
}
