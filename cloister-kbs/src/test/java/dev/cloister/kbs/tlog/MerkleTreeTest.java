package dev.cloister.kbs.tlog;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The tree against the RFC 6962 / RFC 9162 test vectors (eight leaves, roots of every prefix, two inclusion and
 * two consistency proofs; from the certificate-transparency project, Apache-2.0, as repeated in many
 * implementations' tests), then every proof of every small tree, and trees past the memoised subtree size.
 */
class MerkleTreeTest {
    private static final HexFormat HEX = HexFormat.of();
    static final String[] LEAVES = {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
        "606162636465666768696a6b6c6d6e6f"};
    static final String[] ROOTS = {
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

    private static MerkleTree vectorTree() {
        MerkleTree t = new MerkleTree();
        for (String l : LEAVES) {
            t.append(MerkleTree.leafHash(HEX.parseHex(l)));
        }
        return t;
    }

    private static List<byte[]> hashes(String... hex) {
        return java.util.Arrays.stream(hex).map(HEX::parseHex).toList();
    }

    @Test
    void rootsOfEveryPrefixMatchTheRfcVectors() {
        MerkleTree t = vectorTree();
        for (int n = 1; n <= 8; n++) {
            assertThat(HEX.formatHex(t.root(n))).as("root of %d", n).isEqualTo(ROOTS[n - 1]);
        }
        assertThat(HEX.formatHex(t.root(0)))
                .isEqualTo("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    @Test
    void proofsMatchTheRfcVectorsAndVerify() throws Exception {
        MerkleTree t = vectorTree();
        List<byte[]> inclusion = hashes("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7");
        assertThat(t.inclusionProof(5, 8)).usingElementComparator(java.util.Arrays::compare)
                .containsExactlyElementsOf(inclusion);
        byte[] leaf5 = MerkleTree.leafHash(HEX.parseHex(LEAVES[5]));
        MerkleTree.verifyInclusion(5, 8, leaf5, inclusion, HEX.parseHex(ROOTS[7]));
        assertThatThrownBy(() -> MerkleTree.verifyInclusion(4, 8, leaf5, inclusion, HEX.parseHex(ROOTS[7])))
                .isInstanceOf(ProofException.class).hasMessageContaining("not in the tree");

        List<byte[]> consistency = hashes("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7");
        assertThat(t.consistencyProof(6, 8)).usingElementComparator(java.util.Arrays::compare)
                .containsExactlyElementsOf(consistency);
        MerkleTree.verifyConsistency(6, 8, HEX.parseHex(ROOTS[5]), HEX.parseHex(ROOTS[7]), consistency);
        assertThatThrownBy(() -> MerkleTree.verifyConsistency(6, 8, HEX.parseHex(ROOTS[4]), HEX.parseHex(ROOTS[7]),
                consistency)).isInstanceOf(ProofException.class).hasMessageContaining("changed or removed");
        List<byte[]> twoToFive = hashes("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b");
        assertThat(t.consistencyProof(2, 5)).usingElementComparator(java.util.Arrays::compare)
                .containsExactlyElementsOf(twoToFive);
        MerkleTree.verifyConsistency(2, 5, HEX.parseHex(ROOTS[1]), HEX.parseHex(ROOTS[4]), twoToFive);
    }

    @Test
    void everyProofOfEverySmallTreeVerifiesAndNoAlteredProofDoes() throws Exception {
        MerkleTree t = new MerkleTree();
        List<byte[]> leaves = new ArrayList<>();
        Random r = new Random(1);
        for (int i = 0; i < 40; i++) {
            byte[] d = new byte[r.nextInt(20)];
            r.nextBytes(d);
            leaves.add(MerkleTree.leafHash(d));
            t.append(leaves.getLast());
        }
        for (int n = 1; n <= 40; n++) {
            byte[] root = t.root(n);
            for (int i = 0; i < n; i++) {
                byte[] leaf = leaves.get(i);
                List<byte[]> p = t.inclusionProof(i, n);
                MerkleTree.verifyInclusion(i, n, leaf, p, root);
                for (int j = 0; j < p.size(); j++) {
                    List<byte[]> bad = flipped(p, j);
                    int index = i;
                    int size = n;
                    assertThatThrownBy(() -> MerkleTree.verifyInclusion(index, size, leaf, bad, root))
                            .isInstanceOf(ProofException.class);
                }
                if (!p.isEmpty()) {
                    int size = n;
                    int index = i;
                    assertThatThrownBy(() -> MerkleTree.verifyInclusion(index, size, leaf,
                            p.subList(0, p.size() - 1), root)).isInstanceOf(ProofException.class);
                }
            }
            for (int m = 1; m <= n; m++) {
                List<byte[]> p = t.consistencyProof(m, n);
                MerkleTree.verifyConsistency(m, n, t.root(m), root, p);
                for (int j = 0; j < p.size(); j++) {
                    List<byte[]> bad = flipped(p, j);
                    int old = m;
                    int size = n;
                    assertThatThrownBy(() -> MerkleTree.verifyConsistency(old, size, t.root(old), root, bad))
                            .isInstanceOf(ProofException.class);
                }
            }
        }
    }

    @Test
    void largeTreesUseRememberedSubtreesAndStillAgreeWithADirectComputation() throws Exception {
        MerkleTree t = new MerkleTree();
        List<byte[]> leaves = new ArrayList<>();
        for (int i = 0; i < 3 * MerkleTree.MEMO_MIN + 37; i++) {
            byte[] h = MerkleTree.leafHash(("entry " + i).getBytes(java.nio.charset.StandardCharsets.UTF_8));
            leaves.add(h);
            t.append(h);
        }
        for (int n : new int[] {MerkleTree.MEMO_MIN, MerkleTree.MEMO_MIN + 1, 2 * MerkleTree.MEMO_MIN,
            3 * MerkleTree.MEMO_MIN + 37}) {
            assertThat(t.root(n)).as("root of %d", n).isEqualTo(direct(leaves.subList(0, n)));
        }
        long n = t.size();
        for (long i : new long[] {0, 255, 256, 511, 700, n - 1}) {
            MerkleTree.verifyInclusion(i, n, leaves.get((int) i), t.inclusionProof(i, n), t.root(n));
        }
        for (long m : new long[] {1, 255, 256, 257, 512, 513, n - 1}) {
            MerkleTree.verifyConsistency(m, n, t.root(m), t.root(n), t.consistencyProof(m, n));
        }
    }

    @Test
    void leavesAcrossStorageChunksKeepTheirPlace() throws Exception {
        MerkleTree t = new MerkleTree();
        List<byte[]> leaves = new ArrayList<>();
        for (int i = 0; i < MerkleTree.CHUNK_LEAVES + 5; i++) {
            byte[] h = MerkleTree.leafHash(new byte[] {(byte) i, (byte) (i >> 8), (byte) (i >> 16)});
            leaves.add(h);
            t.append(h);
        }
        long n = t.size();
        assertThat(t.root(n)).isEqualTo(direct(leaves));
        for (long i : new long[] {MerkleTree.CHUNK_LEAVES - 1, MerkleTree.CHUNK_LEAVES, n - 1}) {
            MerkleTree.verifyInclusion(i, n, leaves.get((int) i), t.inclusionProof(i, n), t.root(n));
        }
    }

    @Test
    void aForkOrAShrinkingLogIsRefused() {
        MerkleTree t = vectorTree();
        assertThatThrownBy(() -> MerkleTree.verifyConsistency(4, 4, t.root(4), t.root(5), List.of()))
                .isInstanceOf(ProofException.class).hasMessageContaining("forked");
        assertThatThrownBy(() -> MerkleTree.verifyConsistency(5, 4, t.root(5), t.root(4), List.of()))
                .isInstanceOf(ProofException.class).hasMessageContaining("shrink");
        assertThatThrownBy(() -> MerkleTree.verifyInclusion(8, 8, t.root(1), List.of(), t.root(8)))
                .isInstanceOf(ProofException.class);
        assertThatThrownBy(() -> MerkleTree.verifyInclusion(0, 2, t.root(1), List.of(new byte[31]), t.root(2)))
                .isInstanceOf(ProofException.class).hasMessageContaining("32 bytes");
    }

    private static List<byte[]> flipped(List<byte[]> p, int j) {
        List<byte[]> bad = new ArrayList<>(p);
        byte[] h = bad.get(j).clone();
        h[0] ^= 1;
        bad.set(j, h);
        return bad;
    }

    private static byte[] direct(List<byte[]> leaves) throws Exception {
        if (leaves.size() == 1) {
            return leaves.getFirst();
        }
        int k = Integer.highestOneBit(leaves.size() - 1);
        MessageDigest d = MessageDigest.getInstance("SHA-256");
        d.update((byte) 1);
        d.update(direct(leaves.subList(0, k)));
        return d.digest(direct(leaves.subList(k, leaves.size())));
    }
}
