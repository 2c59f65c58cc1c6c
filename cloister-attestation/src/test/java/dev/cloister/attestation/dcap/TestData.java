package dev.cloister.attestation.dcap;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/** Test resources under /dcap (copied from the shared test data; see ORIGIN.txt). */
final class TestData {
    private TestData() {}

    static byte[] bytes(String path) {
        try (InputStream in = TestData.class.getResourceAsStream("/dcap/" + path)) {
            if (in == null) {
                throw new IllegalArgumentException("no test resource " + path);
            }
            byte[] b = in.readAllBytes();
            if (path.endsWith(".hex")) {
                String s = new String(b, StandardCharsets.US_ASCII).strip();
                if (s.startsWith("0x")) {
                    s = s.substring(2);
                }
                return HexFormat.of().parseHex(s);
            }
            return b;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
