package dev.cloister.kbs.tlog;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import org.bouncycastle.crypto.params.Ed25519PrivateKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;

/**
 * Signs notes in the C2SP signed-note format with one Ed25519 key (see {@link NoteVerifier} for the other side).
 * The key is a 32-byte seed; it never appears in {@link #toString()} or in messages.
 */
public final class NoteSigner {
    private final String name;
    private final byte[] seed;
    private final Ed25519PrivateKeyParameters key;

    private NoteSigner(String name, byte[] seed) {
        this.name = name;
        this.seed = seed.clone();
        this.key = new Ed25519PrivateKeyParameters(seed, 0);
    }

    /** A new random key called {@code name}. */
    public static NoteSigner generate(String name) throws ProofException {
        NoteVerifier.checkName(name);
        byte[] seed = new byte[32];
        new SecureRandom().nextBytes(seed);
        try {
            return new NoteSigner(name, seed);
        } finally {
            Arrays.fill(seed, (byte) 0);
        }
    }

    /** The key called {@code name} with this 32-byte Ed25519 seed. */
    public static NoteSigner fromSeed(String name, byte[] seed) throws ProofException {
        NoteVerifier.checkName(name);
        if (seed.length != 32) {
            throw new ProofException("an Ed25519 seed is 32 bytes");
        }
        return new NoteSigner(name, seed);
    }

    /** The key's name. */
    public String name() {
        return name;
    }

    /** A copy of the seed, for storing wrapped; callers wipe it. */
    public byte[] seed() {
        return seed.clone();
    }

    /** The public half, in verifier-key form. */
    public String verifierKey() {
        return NoteVerifier.verifierKey(name, key.generatePublicKey().getEncoded());
    }

    /** {@code text} (non-empty, ending in a newline, no blank line) followed by a blank line and this signature. */
    public String sign(String text) {
        if (text.isEmpty() || !text.endsWith("\n") || text.contains("\n\n")) {
            throw new IllegalArgumentException("a note's text is non-empty, ends in a newline and has no blank line");
        }
        byte[] msg = text.getBytes(StandardCharsets.UTF_8);
        Ed25519Signer s = new Ed25519Signer();
        s.init(true, key);
        s.update(msg, 0, msg.length);
        byte[] sig = s.generateSignature();
        int id = NoteVerifier.keyId(name, key.generatePublicKey().getEncoded());
        byte[] blob = new byte[4 + sig.length];
        blob[0] = (byte) (id >>> 24);
        blob[1] = (byte) (id >>> 16);
        blob[2] = (byte) (id >>> 8);
        blob[3] = (byte) id;
        System.arraycopy(sig, 0, blob, 4, sig.length);
        return text + "\n" + NoteVerifier.SIG_PREFIX + name + " " + Base64.getEncoder().encodeToString(blob) + "\n";
    }

    @Override
    public String toString() {
        return "NoteSigner[" + name + "]";
    }
}
