package dev.cloister.attestation.dcap;

import java.math.BigInteger;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.bouncycastle.crypto.params.ECPublicKeyParameters;
import org.bouncycastle.math.ec.ECPoint;
import org.bouncycastle.math.ec.WNafUtil;
import org.bouncycastle.math.ec.custom.sec.SecP256R1Field;
import org.bouncycastle.math.raw.Mod;
import org.bouncycastle.math.raw.Nat;
import org.bouncycastle.math.raw.Nat256;

/**
 * ECDSA P-256 verification on BouncyCastle's P-256 field arithmetic ({@link SecP256R1Field}, 8×32-bit words) with
 * this class's own allocation-free point formulas and precomputation.
 *
 * <p>Why not {@code ECDSASigner}: a DCAP verification makes about nine signature checks, most of them by the same
 * few Intel keys (root CA, platform/processor CA, TCB signing key). Here those keys, and the generator, get a
 * fixed-window table of every signed 8-bit digit at every position (33 × 128 affine points, about 400 KB), so u·Q
 * costs at most 33 mixed additions and no doublings. BouncyCastle's generic path always pays 256 doublings and allocates per operation.
 * Keys of one quote (the PCK leaf, the attestation key) use width-5 wNAF with a normalized table; their tables
 * are not kept, so a "full" verification does not profit from having seen the same platform before.
 *
 * <p>Only public data flows through here (public keys, signatures, hashes), so variable-time code is fine.
 * Public keys are validated (on the curve, not infinity) by BouncyCastle's point decoding before they get here.
 */
final class P256 {
    static final BigInteger N = Ecdsa.DOMAIN.getN();
    static final BigInteger P = Ecdsa.DOMAIN.getCurve().getField().getCharacteristic();

    /** 256 bits in signed 8-bit digits, plus the carry out of the top digit. */
    private static final int WINDOWS = 33;
    /** Table entries per window: |digit| = 1..128. */
    private static final int PER_WINDOW = 128;
    private static final int[] N_WORDS = Nat256.fromBigInteger(N);
    private static final int WNAF_WIDTH = 5;
    /** Uses of a shared key before its table is built: a key seen once (a test PKI's, say) never pays for one. */
    static final int PROMOTE_AFTER = 4;
    /** A table is about 400 KB; Intel's hierarchy needs three (root, PCK CA, TCB signer) plus the generator's. */
    private static final int SHARED_LIMIT = 16;
    private static final Map<ByteKey, Key> SHARED = new ConcurrentHashMap<>();

    private P256() {}

    /** Affine points (x[i], y[i]), with y negated in ny[i] when kept (null for the large fixed-window tables). */
    private record Table(int[][] x, int[][] y, int[][] ny) {}

    /** The generator's fixed-window table, built on first use. */
    private static final class Generator {
        static final Table TABLE;

        static {
            ECPoint g = Ecdsa.DOMAIN.getG().normalize();
            TABLE = fixedWindowTable(fe(g.getAffineXCoord().toBigInteger()), fe(g.getAffineYCoord().toBigInteger()));
        }
    }

    /**
     * A validated public key in affine coordinates. A shared key (see {@link #shared}) builds its fixed-window table
     * once it has been used {@link #PROMOTE_AFTER} times.
     */
    static final class Key {
        final int[] x;
        final int[] y;
        private final boolean promotable;
        private final AtomicInteger uses = new AtomicInteger();
        private volatile Table table;

        private Key(ECPublicKeyParameters k, boolean promotable) {
            ECPoint q = k.getQ().normalize();
            this.x = fe(q.getAffineXCoord().toBigInteger());
            this.y = fe(q.getAffineYCoord().toBigInteger());
            this.promotable = promotable;
        }

        /** A key used for the signatures of one quote: no table is kept. */
        static Key oneOff(ECPublicKeyParameters k) {
            return new Key(k, false);
        }

        /** A key that may earn a table, without global sharing (the owner caches it). */
        static Key promotable(ECPublicKeyParameters k) {
            return new Key(k, true);
        }

        /**
         * The process-wide key object for a CA or collateral signing key, identified by its SEC1 encoding. Only the
         * decoded point and its precomputed multiples are shared; every signature is still checked.
         */
        static Key shared(byte[] encoded, ECPublicKeyParameters k) {
            ByteKey bk = new ByteKey(encoded);
            Key key = SHARED.get(bk);
            if (key == null) {
                if (SHARED.size() >= SHARED_LIMIT) {
                    SHARED.clear();
                }
                key = new Key(k, true);
                Key prev = SHARED.putIfAbsent(new ByteKey(encoded.clone()), key);
                if (prev != null) {
                    key = prev;
                }
            }
            return key;
        }

        /** Whether this key's fixed-window table exists (for tests). */
        boolean hasTable() {
            return table != null;
        }

        private Table tableIfEarned() {
            Table t = table;
            if (t == null && promotable && uses.incrementAndGet() >= PROMOTE_AFTER) {
                t = fixedWindowTable(x, y);
                table = t;
            }
            return t;
        }
    }

    private record ByteKey(byte[] b, int hash) {
        ByteKey(byte[] b) {
            this(b, Arrays.hashCode(b));
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof ByteKey k && k.hash == hash && Arrays.equals(k.b, b);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    /**
     * Whether (r, s) is a valid ECDSA signature by {@code key} over a 32-byte SHA-256 {@code hash} (no truncation is
     * needed: the hash and the group order are both 256 bits).
     */
    static boolean verify(Key key, byte[] hash, BigInteger r, BigInteger s) {
        if (hash.length != 32 || r.signum() <= 0 || s.signum() <= 0 || r.compareTo(N) >= 0 || s.compareTo(N) >= 0) {
            return false;
        }
        BigInteger e = new BigInteger(1, hash);
        // BouncyCastle's safegcd inversion is about five times faster than BigInteger.modInverse here
        int[] wWords = new int[8];
        if (!Mod.modOddInverseVar(N_WORDS, Nat256.fromBigInteger(s), wWords)) {
            return false; // unreachable for 0 < s < n, n prime
        }
        BigInteger w = Nat256.toBigInteger(wWords);
        int[] u1 = Nat256.fromBigInteger(e.multiply(w).mod(N));
        BigInteger u2b = r.multiply(w).mod(N);
        Scratch c = new Scratch();
        Jac acc = new Jac();
        Table qt = key.tableIfEarned();
        if (qt != null) {
            addFixedWindow(acc, qt, Nat256.fromBigInteger(u2b), c);
        } else {
            wnaf(acc, key, u2b, c);
        }
        addFixedWindow(acc, Generator.TABLE, u1, c);
        if (acc.inf) {
            return false;
        }
        // x(R) mod n == r without an inversion: compare X with candidate·Z² for each field element ≡ r (mod n)
        int[] zz = new int[8];
        SecP256R1Field.square(acc.z, zz, c.tt);
        int[] t = new int[8];
        for (BigInteger cand = r; cand.compareTo(P) < 0; cand = cand.add(N)) {
            SecP256R1Field.multiply(Nat256.fromBigInteger(cand), zz, t, c.tt);
            if (Nat256.eq(t, acc.x)) {
                return true;
            }
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------ scalar multiples

    /**
     * acc += u·Q where the table holds d·256^i·Q for every window i and d = 1..128: u is recoded into signed digits
     * in [-127, 128], a negative digit adding the negated point.
     */
    private static void addFixedWindow(Jac acc, Table t, int[] u, Scratch c) {
        int carry = 0;
        for (int i = 0; i < WINDOWS; i++) {
            int d = (i < 32 ? (u[i >>> 2] >>> ((i & 3) << 3)) & 0xff : 0) + carry;
            if (d > 128) {
                d -= 256;
                carry = 1;
            } else {
                carry = 0;
            }
            if (d > 0) {
                int k = i * PER_WINDOW + d - 1;
                addAffine(acc, t.x[k], t.y[k], c);
            } else if (d < 0) {
                int k = i * PER_WINDOW - d - 1;
                SecP256R1Field.negate(t.y[k], c.ny);
                addAffine(acc, t.x[k], c.ny, c);
            }
        }
    }

    /** acc += u·Q by width-5 wNAF over the odd multiples Q, 3Q, .., 15Q (normalized with one inversion). */
    private static void wnaf(Jac acc, Key key, BigInteger u, Scratch c) {
        int m = 1 << (WNAF_WIDTH - 2);
        Jac[] odd = new Jac[m];
        odd[0] = Jac.affine(key.x, key.y);
        Jac twice = odd[0].copy();
        dbl(twice, c);
        for (int i = 1; i < m; i++) {
            odd[i] = odd[i - 1].copy();
            add(odd[i], twice, c);
        }
        Table t = normalize(odd, true, c);
        byte[] digits = WNafUtil.generateWindowNaf(WNAF_WIDTH, u);
        Jac r = new Jac();
        for (int i = digits.length - 1; i >= 0; i--) {
            dbl(r, c);
            int d = digits[i];
            if (d != 0) {
                int k = Math.abs(d) >>> 1;
                addAffine(r, t.x[k], d > 0 ? t.y[k] : t.ny[k], c);
            }
        }
        add(acc, r, c);
    }

    private static Table fixedWindowTable(int[] x, int[] y) {
        Scratch c = new Scratch();
        Jac[] pts = new Jac[WINDOWS * PER_WINDOW];
        Jac base = Jac.affine(x, y);
        for (int i = 0; i < WINDOWS; i++) {
            int o = i * PER_WINDOW;
            pts[o] = base.copy();
            for (int d = 1; d < PER_WINDOW; d++) {
                pts[o + d] = pts[o + d - 1].copy();
                add(pts[o + d], base, c);
            }
            base = pts[o + PER_WINDOW - 1].copy(); // 128·256^i·Q
            dbl(base, c); // 256^(i+1)·Q
        }
        return normalize(pts, false, c);
    }

    /** Affine forms of finite points, with one field inversion (Montgomery's trick). */
    private static Table normalize(Jac[] pts, boolean negated, Scratch c) {
        int n = pts.length;
        int[][] prefix = new int[n][];
        prefix[0] = pts[0].z.clone();
        for (int i = 1; i < n; i++) {
            prefix[i] = new int[8];
            SecP256R1Field.multiply(prefix[i - 1], pts[i].z, prefix[i], c.tt);
        }
        int[] inv = new int[8];
        SecP256R1Field.inv(prefix[n - 1], inv);
        int[][] xs = new int[n][];
        int[][] ys = new int[n][];
        int[][] nys = negated ? new int[n][] : null;
        int[] zi = new int[8];
        int[] zi2 = new int[8];
        for (int i = n - 1; i >= 0; i--) {
            if (i > 0) {
                SecP256R1Field.multiply(prefix[i - 1], inv, zi, c.tt);
                SecP256R1Field.multiply(inv, pts[i].z, inv, c.tt);
            } else {
                System.arraycopy(inv, 0, zi, 0, 8);
            }
            SecP256R1Field.square(zi, zi2, c.tt);
            xs[i] = new int[8];
            SecP256R1Field.multiply(pts[i].x, zi2, xs[i], c.tt);
            SecP256R1Field.multiply(zi2, zi, zi2, c.tt);
            ys[i] = new int[8];
            SecP256R1Field.multiply(pts[i].y, zi2, ys[i], c.tt);
            if (negated) {
                nys[i] = new int[8];
                SecP256R1Field.negate(ys[i], nys[i]);
            }
        }
        return new Table(xs, ys, nys);
    }

    // ------------------------------------------------------------------------------------------ point formulas

    /** A point in Jacobian coordinates (X/Z², Y/Z³), or infinity. */
    private static final class Jac {
        final int[] x = new int[8];
        final int[] y = new int[8];
        final int[] z = new int[8];
        boolean inf = true;

        static Jac affine(int[] x, int[] y) {
            Jac p = new Jac();
            System.arraycopy(x, 0, p.x, 0, 8);
            System.arraycopy(y, 0, p.y, 0, 8);
            p.z[0] = 1;
            p.inf = false;
            return p;
        }

        Jac copy() {
            Jac p = new Jac();
            System.arraycopy(x, 0, p.x, 0, 8);
            System.arraycopy(y, 0, p.y, 0, 8);
            System.arraycopy(z, 0, p.z, 0, 8);
            p.inf = inf;
            return p;
        }
    }

    /** Temporaries of one computation (one thread). */
    private static final class Scratch {
        final int[] tt = new int[16];
        final int[] t1 = new int[8];
        final int[] t2 = new int[8];
        final int[] t3 = new int[8];
        final int[] t4 = new int[8];
        final int[] t5 = new int[8];
        final int[] t6 = new int[8];
        final int[] t7 = new int[8];
        final int[] ny = new int[8];
    }

    private static void mul(int[] a, int[] b, int[] out, Scratch c) {
        SecP256R1Field.multiply(a, b, out, c.tt);
    }

    private static void sqr(int[] a, int[] out, Scratch c) {
        SecP256R1Field.square(a, out, c.tt);
    }

    /** p = 2p; "dbl-2001-b" for a = -3 (3M + 5S). */
    private static void dbl(Jac p, Scratch c) {
        if (p.inf) {
            return;
        }
        int[] delta = c.t1;
        int[] gamma = c.t2;
        int[] beta = c.t3;
        int[] alpha = c.t4;
        int[] t = c.t5;
        sqr(p.z, delta, c);
        sqr(p.y, gamma, c);
        mul(p.x, gamma, beta, c);
        SecP256R1Field.subtract(p.x, delta, t);
        SecP256R1Field.add(p.x, delta, alpha);
        mul(t, alpha, alpha, c);
        SecP256R1Field.twice(alpha, t);
        SecP256R1Field.add(alpha, t, alpha); // alpha = 3(X-δ)(X+δ)
        // Z3 = (Y+Z)² - γ - δ, before Y and Z are overwritten
        SecP256R1Field.add(p.y, p.z, t);
        sqr(t, t, c);
        SecP256R1Field.subtract(t, gamma, t);
        SecP256R1Field.subtract(t, delta, p.z);
        // X3 = α² - 8β
        times(beta, 2); // 4β
        SecP256R1Field.twice(beta, t); // 8β
        sqr(alpha, p.x, c);
        SecP256R1Field.subtract(p.x, t, p.x);
        // Y3 = α(4β - X3) - 8γ²
        SecP256R1Field.subtract(beta, p.x, t);
        mul(alpha, t, t, c);
        sqr(gamma, gamma, c);
        times(gamma, 3); // 8γ²
        SecP256R1Field.subtract(t, gamma, p.y);
        if (Nat256.isZero(p.z)) {
            p.inf = true; // only for a point of order 2, which P-256 does not have; kept for safety
        }
    }

    /** p += (x2, y2) affine; "madd-2007-bl" (7M + 4S). */
    private static void addAffine(Jac p, int[] x2, int[] y2, Scratch c) {
        if (p.inf) {
            System.arraycopy(x2, 0, p.x, 0, 8);
            System.arraycopy(y2, 0, p.y, 0, 8);
            Arrays.fill(p.z, 0);
            p.z[0] = 1;
            p.inf = false;
            return;
        }
        int[] z1z1 = c.t1;
        int[] h = c.t2;
        int[] r = c.t3;
        int[] t = c.t4;
        int[] hh = c.t5;
        int[] j = c.t6;
        int[] v = c.t7;
        sqr(p.z, z1z1, c);
        mul(x2, z1z1, h, c);
        SecP256R1Field.subtract(h, p.x, h); // H = U2 - X1
        mul(y2, p.z, r, c);
        mul(r, z1z1, r, c);
        SecP256R1Field.subtract(r, p.y, r); // S2 - Y1
        if (Nat256.isZero(h)) {
            if (Nat256.isZero(r)) {
                dbl(p, c);
            } else {
                p.inf = true;
            }
            return;
        }
        SecP256R1Field.twice(r, r); // r = 2(S2 - Y1)
        sqr(h, hh, c);
        System.arraycopy(hh, 0, t, 0, 8);
        times(t, 2); // I = 4HH
        mul(h, t, j, c); // J = H·I
        mul(p.x, t, v, c); // V = X1·I
        // Z3 = (Z1 + H)² - Z1Z1 - HH
        SecP256R1Field.add(p.z, h, t);
        sqr(t, t, c);
        SecP256R1Field.subtract(t, z1z1, t);
        SecP256R1Field.subtract(t, hh, p.z);
        // Y1·J before Y1 is overwritten
        mul(p.y, j, hh, c);
        SecP256R1Field.twice(hh, hh);
        // X3 = r² - J - 2V
        sqr(r, p.x, c);
        SecP256R1Field.subtract(p.x, j, p.x);
        SecP256R1Field.subtract(p.x, v, p.x);
        SecP256R1Field.subtract(p.x, v, p.x);
        // Y3 = r(V - X3) - 2·Y1·J
        SecP256R1Field.subtract(v, p.x, t);
        mul(r, t, t, c);
        SecP256R1Field.subtract(t, hh, p.y);
    }

    /** p += q, both Jacobian; "add-2007-bl" (11M + 5S). */
    private static void add(Jac p, Jac q, Scratch c) {
        if (q.inf) {
            return;
        }
        if (p.inf) {
            System.arraycopy(q.x, 0, p.x, 0, 8);
            System.arraycopy(q.y, 0, p.y, 0, 8);
            System.arraycopy(q.z, 0, p.z, 0, 8);
            p.inf = false;
            return;
        }
        int[] z1z1 = new int[8];
        int[] z2z2 = new int[8];
        int[] u1 = new int[8];
        int[] s1 = new int[8];
        int[] h = new int[8];
        int[] r = new int[8];
        int[] t = new int[8];
        sqr(p.z, z1z1, c);
        sqr(q.z, z2z2, c);
        mul(p.x, z2z2, u1, c);
        mul(q.x, z1z1, h, c);
        SecP256R1Field.subtract(h, u1, h); // H = U2 - U1
        mul(p.y, q.z, s1, c);
        mul(s1, z2z2, s1, c); // S1
        mul(q.y, p.z, r, c);
        mul(r, z1z1, r, c);
        SecP256R1Field.subtract(r, s1, r); // S2 - S1
        if (Nat256.isZero(h)) {
            if (Nat256.isZero(r)) {
                dbl(p, c);
            } else {
                p.inf = true;
            }
            return;
        }
        SecP256R1Field.twice(r, r);
        int[] i = new int[8];
        SecP256R1Field.twice(h, i);
        sqr(i, i, c); // I = (2H)²
        int[] j = new int[8];
        mul(h, i, j, c); // J
        int[] v = new int[8];
        mul(u1, i, v, c); // V
        // Z3 = ((Z1 + Z2)² - Z1Z1 - Z2Z2)·H
        SecP256R1Field.add(p.z, q.z, t);
        sqr(t, t, c);
        SecP256R1Field.subtract(t, z1z1, t);
        SecP256R1Field.subtract(t, z2z2, t);
        mul(t, h, p.z, c);
        // X3 = r² - J - 2V
        sqr(r, p.x, c);
        SecP256R1Field.subtract(p.x, j, p.x);
        SecP256R1Field.subtract(p.x, v, p.x);
        SecP256R1Field.subtract(p.x, v, p.x);
        // Y3 = r(V - X3) - 2·S1·J
        mul(s1, j, s1, c);
        SecP256R1Field.twice(s1, s1);
        SecP256R1Field.subtract(v, p.x, t);
        mul(r, t, t, c);
        SecP256R1Field.subtract(t, s1, p.y);
    }

    /** z = 2^bits · z mod p (bits ≤ 3), with one reduction where repeated doubling would take several. */
    private static void times(int[] z, int bits) {
        SecP256R1Field.reduce32(Nat.shiftUpBits(8, z, bits, 0), z);
    }

    private static int[] fe(BigInteger v) {
        return SecP256R1Field.fromBigInteger(v);
    }
}
