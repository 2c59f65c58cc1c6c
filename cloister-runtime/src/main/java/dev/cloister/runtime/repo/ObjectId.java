package dev.cloister.runtime.repo;

import dev.cloister.core.CloisterException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * The address of an object in a repository: the SHA-256 of its bytes, written {@code sha256:<64 hex>}.
 * Content addressing makes uploads idempotent and lets every download be checked against its name.
 */
public record ObjectId(String hex) {
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");
    private static final String PREFIX = "sha256:";

    public ObjectId {
        if (hex == null || !HEX.matcher(hex).matches()) {
            throw new IllegalArgumentException("object id must be 64 lowercase hex digits");
        }
    }

    /** Parses {@code sha256:<hex>} (or bare hex), naming the bad value on failure. */
    public static ObjectId parse(String text) throws CloisterException {
        String h = text.startsWith(PREFIX) ? text.substring(PREFIX.length()) : text;
        if (!HEX.matcher(h).matches()) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "not an object id: '" + text + "' (expected sha256: and 64 lowercase hex digits)");
        }
        return new ObjectId(h);
    }

    /** The id of {@code bytes}. */
    public static ObjectId of(byte[] bytes) {
        return new ObjectId(HexFormat.of().formatHex(sha256().digest(bytes)));
    }

    static ObjectId of(MessageDigest finishedDigest) {
        return new ObjectId(HexFormat.of().formatHex(finishedDigest.digest()));
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }

    /** Fails closed unless the finished digest of some downloaded bytes equals this id. */
    void check(MessageDigest finishedDigest, String location) throws CloisterException {
        if (!MessageDigest.isEqual(finishedDigest.digest(), HexFormat.of().parseHex(hex))) {
            throw new CloisterException(CloisterException.Kind.DENIED, "object " + this + " in repository "
                    + location + " does not match its hash (corrupted or tampered)");
        }
    }

    /** The error for an object that is not in the repository at {@code location}. */
    CloisterException missingFrom(String location) {
        return new CloisterException(CloisterException.Kind.BAD_INPUT,
                "object " + this + " is not in repository " + location);
    }

    @Override
    public String toString() {
        return PREFIX + hex;
    }
}
