package dev.cloister.attestation.dcap;

/** Just enough DER walking to find the signed TBS part of a certificate or CRL without re-encoding it. */
final class Der {
    private Der() {}

    /** [offset, length] of the first element inside the outer SEQUENCE of {@code der}, or null if malformed. */
    static int[] firstInner(byte[] der) {
        int[] outer = header(der, 0);
        if (outer == null || der[0] != 0x30 || outer[0] + outer[1] != der.length) {
            return null;
        }
        int start = outer[0];
        int[] inner = header(der, start);
        if (inner == null || der[start] != 0x30 || inner[0] + inner[1] > der.length) {
            return null;
        }
        return new int[] {start, inner[0] + inner[1] - start};
    }

    /** For the element at {@code off}: [content offset, content length], or null. */
    private static int[] header(byte[] d, int off) {
        if (off + 2 > d.length) {
            return null;
        }
        int len = d[off + 1] & 0xff;
        int p = off + 2;
        if (len >= 0x80) {
            int n = len & 0x7f;
            if (n == 0 || n > 3 || p + n > d.length) {
                return null;
            }
            len = 0;
            for (int i = 0; i < n; i++) {
                len = (len << 8) | (d[p++] & 0xff);
            }
        }
        if (p + len > d.length) {
            return null;
        }
        return new int[] {p, len};
    }
}
