package dev.cloister.cli.attest;

import dev.cloister.attestation.Policy;
import dev.cloister.attestation.policy.Policies;
import dev.cloister.attestation.policy.PolicyException;
import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.HexFormat;

/** Reading the command line's inputs: evidence as binary or hex, times, policies given as a file or a string. */
final class EvidenceInput {
    private EvidenceInput() {}

    /** File contents; text that is entirely hex (whitespace allowed, optional 0x) is decoded. */
    static byte[] binaryOrHex(Path file) throws IOException {
        byte[] raw = Files.readAllBytes(file);
        String text = asciiOrNull(raw);
        if (text != null) {
            String t = text.replaceAll("\\s+", "");
            if (t.startsWith("0x") || t.startsWith("0X")) {
                t = t.substring(2);
            }
            if (!t.isEmpty() && t.length() % 2 == 0 && t.chars().allMatch(c -> Character.digit(c, 16) >= 0)) {
                return HexFormat.of().parseHex(t.toLowerCase(java.util.Locale.ROOT));
            }
        }
        return raw;
    }

    private static String asciiOrNull(byte[] b) {
        for (byte x : b) {
            if (x < 0x09 || x > 0x7e) {
                return null;
            }
        }
        return new String(b, StandardCharsets.US_ASCII);
    }

    /** ISO-8601 instant ({@code 2025-06-01T00:00:00Z}) or Unix seconds; null means the current time. */
    static Instant time(String at) throws CloisterException {
        if (at == null) {
            // The command line is where the clock is read; the library always takes time as a parameter.
            return Instant.now();
        }
        if (at.matches("[0-9]{1,12}")) {
            return Instant.ofEpochSecond(Long.parseLong(at));
        }
        try {
            return Instant.parse(at);
        } catch (DateTimeParseException e) {
            throw new CloisterException(CloisterException.Kind.BAD_INPUT,
                    "--at '" + at + "' is neither an ISO-8601 instant (2025-06-01T00:00:00Z) nor Unix seconds");
        }
    }

    /** A policy from a file when one exists at that path, otherwise the text itself; null gives the default. */
    static Policy policy(String fileOrText) throws IOException, PolicyException {
        if (fileOrText == null) {
            return Policies.defaultPolicy();
        }
        Path p;
        try {
            p = Path.of(fileOrText);
        } catch (java.nio.file.InvalidPathException e) {
            p = null;
        }
        if (p != null && !fileOrText.isBlank() && Files.isRegularFile(p)) {
            return Policies.parse(Files.readString(p, StandardCharsets.UTF_8));
        }
        return Policies.parse(fileOrText);
    }
}
