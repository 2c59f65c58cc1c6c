package dev.cloister.kbs.tlog;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import org.bouncycastle.crypto.params.Ed25519PublicKeyParameters;
import org.bouncycastle.crypto.signers.Ed25519Signer;

/**
 * Checks notes signed in the C2SP signed-note format (the format of Go's {@code sumdb/note} and of transparency
 * log checkpoints) with one Ed25519 key, given as a verifier key {@code <name>+<key id hex>+<base64(0x01 ||
 * public key)>}. Parsing is strict: a key or a note that is malformed in any way is refused, never guessed at.
 */
public final class NoteVerifier {
    /** Signature type byte of Ed25519 keys in the signed-note format. */
    static final byte ED25519 = 0x01;
    /** Longest note accepted. */
    static final int MAX_NOTE = 1 << 20;
    /** Most signature lines accepted on one note (Go's limit). */
    static final int MAX_SIGNATURES = 100;
    static final String SIG_PREFIX = "\u2014 ";

    private final String name;
    private final int keyId;
    private final byte[] publicKey;

    private NoteVerifier(String name, byte[] publicKey) {
        this.name = name;
        this.publicKey = publicKey.clone();
        this.keyId = keyId(name, publicKey);
    }

    /** Parses a verifier key such as {@code PeterNeumann+c74f20a3+ARpc2QcU...}. */
    public static NoteVerifier parse(String verifierKey) throws ProofException {
        if (verifierKey == null || verifierKey.length() > 1024) {
            throw new ProofException("verifier key missing or too long");
        }
        // The base64 key may itself hold '+', so only the first two separate fields.
        String[] parts = verifierKey.strip().split("\\+", 3);
        if (parts.length != 3) {
            throw new ProofException("a verifier key is <name>+<key id>+<key>, three parts joined by '+'");
        }
        checkName(parts[0]);
        if (!parts[1].matches("[0-9a-f]{8}")) {
            throw new ProofException("the key id of a verifier key is 8 lower-case hex digits, not '" + parts[1]
                    + "'");
        }
        byte[] typed;
        try {
            typed = Base64.getDecoder().decode(parts[2]);
        } catch (IllegalArgumentException e) {
            throw new ProofException("the key of a verifier key is not base64");
        }
        if (typed.length != 33 || typed[0] != ED25519) {
            throw new ProofException("only Ed25519 verifier keys (type 0x01, 32-byte key) are supported");
        }
        NoteVerifier v = new NoteVerifier(parts[0], java.util.Arrays.copyOfRange(typed, 1, 33));
        if (!HexFormat.of().toHexDigits(v.keyId).equals(parts[1])) {
            throw new ProofException("verifier key id " + parts[1] + " does not match its name and key");
        }
        return v;
    }

    /** The signer's name (a log's origin, typically). */
    public String name() {
        return name;
    }

    /** This key in the verifier-key text form. */
    public String verifierKey() {
        return verifierKey(name, publicKey);
    }

    /**
     * Returns the text of {@code note} once a signature line by this key verifies. Signatures by other keys are
     * ignored; a bad signature by this key, or none, is an error.
     */
    public String open(String note) throws ProofException {
        if (note == null || note.length() > MAX_NOTE) {
            throw new ProofException("note missing or longer than " + MAX_NOTE + " characters");
        }
        int split = note.lastIndexOf("\n\n");
        if (split < 0 || !note.endsWith("\n")) {
            throw new ProofException("not a signed note: no blank line before the signatures, or no final newline");
        }
        if (split + 2 >= note.length()) {
            throw new ProofException("not a signed note: no signature lines after the blank line");
        }
        String text = note.substring(0, split + 1);
        String[] lines = note.substring(split + 2, note.length() - 1).split("\n", -1);
        if (lines.length > MAX_SIGNATURES) {
            throw new ProofException("note has more than " + MAX_SIGNATURES + " signatures");
        }
        for (String line : lines) {
            if (!line.startsWith(SIG_PREFIX)) {
                throw new ProofException("malformed signature line (must start with an em dash and a space)");
            }
            String[] f = line.substring(SIG_PREFIX.length()).split(" ", -1);
            if (f.length != 2) {
                throw new ProofException("malformed signature line (name and signature)");
            }
            byte[] blob;
            try {
                blob = Base64.getDecoder().decode(f[1]);
            } catch (IllegalArgumentException e) {
                throw new ProofException("signature of " + f[0] + " is not base64");
            }
            if (blob.length < 5) {
                throw new ProofException("signature of " + f[0] + " is too short");
            }
            int id = ((blob[0] & 0xff) << 24) | ((blob[1] & 0xff) << 16) | ((blob[2] & 0xff) << 8) | (blob[3] & 0xff);
            if (!f[0].equals(name) || id != keyId) {
                continue;
            }
            Ed25519Signer s = new Ed25519Signer();
            s.init(false, new Ed25519PublicKeyParameters(publicKey, 0));
            byte[] msg = text.getBytes(StandardCharsets.UTF_8);
            s.update(msg, 0, msg.length);
            if (blob.length != 4 + 64 || !s.verifySignature(java.util.Arrays.copyOfRange(blob, 4, blob.length))) {
                throw new ProofException("the signature of " + name + " on the note does not verify");
            }
            return text;
        }
        throw new ProofException("the note is not signed by " + name + " (key " + HexFormat.of().toHexDigits(keyId)
                + ")");
    }

    static void checkName(String name) throws ProofException {
        if (name.isEmpty() || name.length() > 256 || name.chars().anyMatch(c -> c == '+' || c <= ' '
                || Character.isWhitespace(c))) {
            throw new ProofException("a key name is non-empty, at most 256 characters, with no spaces or '+'");
        }
    }

    static int keyId(String name, byte[] publicKey) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update(name.getBytes(StandardCharsets.UTF_8));
            d.update((byte) '\n');
            d.update(ED25519);
            byte[] h = d.digest(publicKey);
            return ((h[0] & 0xff) << 24) | ((h[1] & 0xff) << 16) | ((h[2] & 0xff) << 8) | (h[3] & 0xff);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String verifierKey(String name, byte[] publicKey) {
        byte[] typed = new byte[33];
        typed[0] = ED25519;
        System.arraycopy(publicKey, 0, typed, 1, 32);
        return name + "+" + HexFormat.of().toHexDigits(keyId(name, publicKey)) + "+"
                + Base64.getEncoder().encodeToString(typed);
    }
}
