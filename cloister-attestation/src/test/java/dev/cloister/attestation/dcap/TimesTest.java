package dev.cloister.attestation.dcap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Date;
import java.util.Random;
import org.bouncycastle.asn1.ASN1GeneralizedTime;
import org.bouncycastle.asn1.ASN1UTCTime;
import org.bouncycastle.asn1.DERUTCTime;
import org.bouncycastle.asn1.x509.Time;
import org.junit.jupiter.api.Test;

/** The fast time parsers agree with BouncyCastle's and the JDK's on canonical forms and defer on all others. */
class TimesTest {
    @Test
    void x509TimesAgreeWithBouncyCastle() throws Exception {
        Random r = new Random(11);
        for (int i = 0; i < 2000; i++) {
            // 1950..2049 for UTCTime, up to 9999 for GeneralizedTime
            long utc = -631152000L + (long) (r.nextDouble() * 3155760000L);
            Time t = new Time(new DERUTCTime(new Date(utc * 1000)));
            assertThat(Times.x509(t)).isEqualTo(t.getDate().toInstant()).isEqualTo(Instant.ofEpochSecond(utc));
            long gen = (long) (r.nextDouble() * 253402300799L);
            Time g = new Time(new ASN1GeneralizedTime(new Date(gen * 1000)));
            assertThat(Times.x509(g)).isEqualTo(g.getDate().toInstant()).isEqualTo(Instant.ofEpochSecond(gen));
        }
    }

    @Test
    void nonCanonicalX509TimesGoToBouncyCastle() throws Exception {
        // with fractional seconds and an offset: not the fast path's forms, still BouncyCastle's answer
        Time frac = new Time(new ASN1GeneralizedTime("20250719095853.5Z"));
        assertThat(Times.x509(frac)).isEqualTo(frac.getDate().toInstant());
        Time utc = new Time(new ASN1UTCTime("491231235959Z"));
        assertThat(Times.x509(utc)).isEqualTo(Instant.parse("2049-12-31T23:59:59Z"));
        Time old = new Time(new ASN1UTCTime("500101000000Z"));
        assertThat(Times.x509(old)).isEqualTo(Instant.parse("1950-01-01T00:00:00Z"));
    }

    @Test
    void isoTimesAgreeWithInstantParse() {
        Random r = new Random(12);
        for (int i = 0; i < 2000; i++) {
            Instant t = Instant.ofEpochSecond((long) (r.nextDouble() * 253402300799L));
            String s = t.toString();
            assertThat(Times.iso(s)).isEqualTo(Instant.parse(s));
        }
        // the general parser's leniencies (24:00 as the next midnight) are kept
        assertThat(Times.iso("2025-01-01T24:00:00Z")).isEqualTo(Instant.parse("2025-01-01T24:00:00Z"));
        assertThat(Times.iso("2025-07-19T09:58:53.250Z")).isEqualTo(Instant.parse("2025-07-19T09:58:53.250Z"));
        for (String bad : new String[] {"2025-02-30T00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T25:00:00Z",
            "2025-01-01T00:00:00+", "2025-01-0xT00:00:00Z", "2025-01-01 00:00:00Z", ""}) {
            assertThatThrownBy(() -> Times.iso(bad)).as(bad).isInstanceOf(DateTimeParseException.class);
        }
    }
}
