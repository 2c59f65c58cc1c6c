package dev.cloister.kbs.tlog;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Seeded mutations of signed checkpoints, verifier keys and proofs: the parsers and verifiers answer only with
 * {@link ProofException} (never another exception), and nothing altered verifies as something else.
 */
class TlogFuzzTest {
    /** Raise with -Dfuzz.iterations=N for a longer run. */
    static final int ITER = Integer.getInteger("fuzz.iterations", 3000);

    interface Call<T> {
        T run() throws ProofException;
    }

    static <T> T clean(Call<T> c, String what) {
        try {
            return c.run();
        } catch (ProofException e) {
            assertThat(e.getMessage()).as(what).isNotBlank();
            return null;
        } catch (RuntimeException e) {
            throw new AssertionError(what + " raised " + e, e);
        }
    }

    static final String INSERTS = "\n+ \u2014=/\u0000xA";

    static String mutate(Random r, String s) {
        StringBuilder b = new StringBuilder(s);
        int edits = 1 + r.nextInt(3);
        for (int i = 0; i < edits; i++) {
            int at = b.isEmpty() ? 0 : r.nextInt(b.length());
            switch (r.nextInt(5)) {
                case 0 -> {
                    if (!b.isEmpty()) {
                        b.setCharAt(at, (char) (b.charAt(at) ^ (1 << r.nextInt(7))));
                    }
                }
                case 1 -> b.insert(at, INSERTS.charAt(r.nextInt(INSERTS.length())));
                case 2 -> {
                    if (!b.isEmpty()) {
                        b.deleteCharAt(at);
                    }
                }
                case 3 -> b.setLength(at);
                default -> b.insert(at, b.substring(at, Math.min(b.length(), at + r.nextInt(40))));
            }
        }
        return b.toString();
    }

    @Test
    void mutatedCheckpointsAreRefusedOrSayExactlyWhatWasSigned() throws Exception {
        NoteSigner signer = NoteSigner.generate("cloister-kbs/fuzz");
        NoteVerifier v = NoteVerifier.parse(signer.verifierKey());
        Checkpoint c = new Checkpoint("cloister-kbs/fuzz", 123456, new byte[32]);
        String note = signer.sign(c.toText());
        Random r = new Random(77);
        int accepted = 0;
        for (int i = 0; i < ITER; i++) {
            String m = mutate(r, note);
            Checkpoint got = clean(() -> Checkpoint.open(m, v), "note " + i);
            if (got != null) {
                // Only a change the signature does not cover (base64 padding bits, say) may pass, and then it
                // must say what was signed.
                assertThat(got).as("mutation %d: %s", i, m).isEqualTo(c);
                accepted++;
            }
        }
        assertThat(accepted).isLessThan(ITER / 10);
    }

    @Test
    void mutatedVerifierKeysAreRefusedOrAreTheSameKey() throws Exception {
        String key = NoteSigner.generate("cloister-kbs/fuzz").verifierKey();
        Random r = new Random(78);
        for (int i = 0; i < ITER; i++) {
            String m = mutate(r, key);
            NoteVerifier got = clean(() -> NoteVerifier.parse(m), "key " + i);
            if (got != null) {
                assertThat(got.verifierKey()).as("mutation %d: %s", i, m).isEqualTo(key);
            }
        }
    }

    @Test
    void randomProofsAndSizesAreRefusedCleanly() {
        MerkleTree t = new MerkleTree();
        for (int i = 0; i < 300; i++) {
            t.append(MerkleTree.leafHash(new byte[] {(byte) i, (byte) (i >> 8)}));
        }
        Random r = new Random(79);
        long[] odd = {-1, 0, 1, 2, 299, 300, 301, Long.MAX_VALUE, Long.MIN_VALUE};
        for (int i = 0; i < ITER; i++) {
            long size = r.nextBoolean() ? odd[r.nextInt(odd.length)] : 1 + r.nextInt(300);
            long other = r.nextBoolean() ? odd[r.nextInt(odd.length)] : r.nextInt(300);
            List<byte[]> proof = new ArrayList<>();
            int n = r.nextInt(r.nextInt(20) == 0 ? 200 : 12);
            for (int j = 0; j < n; j++) {
                byte[] h = new byte[r.nextInt(50) == 0 ? r.nextInt(40) : 32];
                r.nextBytes(h);
                proof.add(h);
            }
            byte[] root = new byte[32];
            r.nextBytes(root);
            byte[] leaf = new byte[32];
            r.nextBytes(leaf);
            int k = i;
            Object inc = clean(() -> {
                MerkleTree.verifyInclusion(other, size, leaf, proof, root);
                return "verified";
            }, "inclusion " + k);
            Object con = clean(() -> {
                MerkleTree.verifyConsistency(other, size, leaf, root, proof);
                return "verified";
            }, "consistency " + k);
            // Random hashes prove nothing, except the trivial cases the RFC defines (from an empty log).
            assertThat(inc).as("inclusion %d", i).isNull();
            if (con != null) {
                assertThat(other).as("consistency %d", i).isZero();
            }
        }
    }
}
