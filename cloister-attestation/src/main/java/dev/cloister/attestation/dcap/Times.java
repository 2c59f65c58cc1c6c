package dev.cloister.attestation.dcap;

import java.io.IOException;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import org.bouncycastle.asn1.ASN1Encoding;
import org.bouncycastle.asn1.x509.Time;

/**
 * Fast paths for the time formats of certificates, CRLs and collateral. Both BouncyCastle's {@code Time.getDate()}
 * (a new {@code SimpleDateFormat} per call) and {@code Instant.parse} cost several microseconds, and a full
 * verification reads about twenty times. Only the canonical forms take the fast path, and every other form goes
 * to the general parser, so what is accepted and what it means do not change.
 */
final class Times {
    private Times() {}

    /** An X.509 time: DER UTCTime {@code YYMMDDHHMMSSZ} or GeneralizedTime {@code YYYYMMDDHHMMSSZ}. */
    static Instant x509(Time t) throws IOException {
        byte[] d = t.toASN1Primitive().getEncoded(ASN1Encoding.DER);
        Instant fast = null;
        if (d.length == 15 && d[0] == 0x17 && d[1] == 13 && d[14] == 'Z') {
            int yy = num(d, 2, 2);
            fast = yy < 0 ? null : of(yy < 50 ? 2000 + yy : 1900 + yy, d, 4);
        } else if (d.length == 17 && d[0] == 0x18 && d[1] == 15 && d[16] == 'Z') {
            int yyyy = num(d, 2, 4);
            fast = yyyy < 0 ? null : of(yyyy, d, 6);
        }
        return fast != null ? fast : t.getDate().toInstant();
    }

    /** An ISO-8601 UTC time as in TCB Info and QE Identity ({@code 2025-07-19T09:58:53Z}), else Instant.parse. */
    static Instant iso(String s) {
        if (s.length() == 20 && s.charAt(4) == '-' && s.charAt(7) == '-' && s.charAt(10) == 'T'
                && s.charAt(13) == ':' && s.charAt(16) == ':' && s.charAt(19) == 'Z') {
            int y = num(s, 0, 4);
            int mo = num(s, 5, 2);
            int d = num(s, 8, 2);
            int h = num(s, 11, 2);
            int mi = num(s, 14, 2);
            int sec = num(s, 17, 2);
            if ((y | mo | d | h | mi | sec) >= 0) {
                try {
                    return LocalDateTime.of(y, mo, d, h, mi, sec).toInstant(ZoneOffset.UTC);
                } catch (DateTimeException e) {
                    // not a valid date-time: let the general parser decide (and report)
                }
            }
        }
        return Instant.parse(s);
    }

    /** MMDDHHMMSS at {@code off}, or null when not digits or not a valid date-time. */
    private static Instant of(int year, byte[] d, int off) {
        int mo = num(d, off, 2);
        int day = num(d, off + 2, 2);
        int h = num(d, off + 4, 2);
        int mi = num(d, off + 6, 2);
        int s = num(d, off + 8, 2);
        if ((mo | day | h | mi | s) < 0) {
            return null;
        }
        try {
            return LocalDateTime.of(year, mo, day, h, mi, s).toInstant(ZoneOffset.UTC);
        } catch (DateTimeException e) {
            return null;
        }
    }

    private static int num(byte[] b, int off, int len) {
        int v = 0;
        for (int i = off; i < off + len; i++) {
            int c = b[i] - '0';
            if (c < 0 || c > 9) {
                return -1;
            }
            v = v * 10 + c;
        }
        return v;
    }

    private static int num(String s, int off, int len) {
        int v = 0;
        for (int i = off; i < off + len; i++) {
            int c = s.charAt(i) - '0';
            if (c < 0 || c > 9) {
                return -1;
            }
            v = v * 10 + c;
        }
        return v;
    }
}
