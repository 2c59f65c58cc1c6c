package dev.cloister.attestation.dcap;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cloister.attestation.EvidenceException;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.VerifiedEvidence;
import java.time.Instant;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Seeded random and mutated inputs: the parsers and the verifier only ever answer with EvidenceException. */
class FuzzTest {
    static final DcapVerifier V = DcapVerifier.intelRoot();
    /** Raise with -Dfuzz.iterations=N for a longer run. */
    static final int ITER = Integer.getInteger("fuzz.iterations", 400);

    interface Call {
        void run() throws EvidenceException;
    }

    /** Runs {@code c}; any exception other than EvidenceException fails the test with the input's seed. */
    static boolean clean(Call c, String what) {
        try {
            c.run();
            return true;
        } catch (EvidenceException e) {
            assertThat(e.getMessage()).isNotBlank();
            return false;
        } catch (RuntimeException e) {
            throw new AssertionError(what + " raised " + e, e);
        }
    }

    @Test
    void randomBytesAreRejectedCleanly() {
        Random r = new Random(4242);
        for (int i = 0; i < 3000; i++) {
            byte[] b = new byte[r.nextInt(i % 10 == 0 ? 6000 : 700)];
            r.nextBytes(b);
            if (i % 2 == 0 && b.length >= 8) {
                // a plausible header, so the fuzzing reaches the body and signature data
                int v = 3 + r.nextInt(3);
                b[0] = (byte) v;
                b[1] = 0;
                b[2] = 2;
                b[3] = 0;
                b[4] = (byte) (v == 3 || r.nextBoolean() ? 0 : 0x81);
                b[5] = b[6] = b[7] = 0;
            }
            int n = i;
            assertThat(clean(() -> Quote.parse(b), "random input " + n)).isFalse();
        }
    }

    @Test
    void mutatedRealQuotesGiveOnlyEvidenceExceptions() {
        String[][] cases = {
            {"dcap-qvl/sgx_quote", "dcap-qvl/sgx_quote_collateral.json", "1752919277"},
            {"dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json", "1752919234"},
            {"automata/quote_v5_tdx_alibaba_90c06f000000.dat", "automata/collateral_v5_tdx_0625_assembled.json",
                "1749945600"},
        };
        Random r = new Random(7);
        for (String[] c : cases) {
            byte[] quote = TestData.bytes(c[0]);
            byte[] coll = TestData.bytes(c[1]);
            Instant at = Instant.ofEpochSecond(Long.parseLong(c[2]));
            int signedEnd;
            try {
                signedEnd = Quote.parse(quote).signedLength();
            } catch (EvidenceException e) {
                throw new AssertionError(e);
            }
            int accepted = 0;
            for (int i = 0; i < ITER; i++) {
                byte[] m = mutate(quote, r);
                String what = c[0] + " mutation " + i;
                boolean ok = clean(() -> V.verify(m, coll, at), what);
                if (ok) {
                    accepted++;
                    // whatever still verifies must not differ in the signed part
                    assertThat(Arrays.copyOf(m, signedEnd)).as(what).isEqualTo(Arrays.copyOf(quote, signedEnd));
                }
            }
            assertThat(accepted).isLessThan(ITER);
        }
    }

    @Test
    void mutatedCollateralGivesOnlyEvidenceExceptions() throws Exception {
        byte[] quote = TestData.bytes("dcap-qvl/tdx_quote");
        byte[] coll = TestData.bytes("dcap-qvl/tdx_quote_collateral.json");
        Instant at = Instant.ofEpochSecond(1752919234);
        VerifiedEvidence good = V.verify(quote, coll, at);
        assertThat(good.tcbStatus()).isEqualTo(TcbStatus.UP_TO_DATE);
        Random r = new Random(99);
        for (int i = 0; i < ITER; i++) {
            byte[] m = mutate(coll, r);
            int n = i;
            clean(() -> V.verify(quote, m, at), "collateral mutation " + n);
        }
    }

    static byte[] mutate(byte[] in, Random r) {
        byte[] b = in.clone();
        switch (r.nextInt(5)) {
            case 0 -> b[r.nextInt(b.length)] ^= (byte) (1 << r.nextInt(8));
            case 1 -> {
                for (int k = 0; k < 1 + r.nextInt(8); k++) {
                    b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                }
            }
            case 2 -> b = Arrays.copyOf(b, r.nextInt(b.length));
            case 3 -> {
                // a length field: set a random 16/32-bit little-endian value somewhere
                int off = r.nextInt(b.length - 4);
                int v = r.nextBoolean() ? r.nextInt() : r.nextInt(70000);
                b[off] = (byte) v;
                b[off + 1] = (byte) (v >> 8);
                if (r.nextBoolean()) {
                    b[off + 2] = (byte) (v >> 16);
                    b[off + 3] = (byte) (v >> 24);
                }
            }
            default -> {
                int off = r.nextInt(b.length);
                int len = Math.min(b.length - off, 1 + r.nextInt(64));
                byte[] junk = new byte[len];
                r.nextBytes(junk);
                System.arraycopy(junk, 0, b, off, len);
            }
        }
        return b;
    }
}
