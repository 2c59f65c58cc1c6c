package dev.cloister.pf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The two AES-GCM engines (the JDK's SunJCE and the Amazon Corretto Crypto Provider) are interchangeable: same
 * ciphertext and tags for the same keys, same verdicts on damaged input, and files written by one read by the
 * other. The rest of the suite runs twice (see the module's POM), once per engine; this class checks which
 * engine a run actually got, so a provider that silently failed to load cannot pass for it.
 */
class EngineTest {
    @TempDir
    Path dir;

    @Test
    void theRunUsesTheEngineItAskedFor() {
        String asked = System.getProperty(Crypto.Engine.PROPERTY, "auto");
        if (asked.equals("jdk")) {
            assertThat(Crypto.Engine.selected()).isEqualTo(Crypto.Engine.JDK);
            assertThat(Crypto.forNodes(0).engine()).isEqualTo(Crypto.Engine.JDK);
        } else if (asked.equals("accp")) {
            assertThat(Crypto.Engine.selected()).isEqualTo(Crypto.Engine.ACCP);
            assertThat(Crypto.forNodes(0).engine()).isEqualTo(Crypto.Engine.ACCP);
        } else {
            // ACCP ships a native build for linux-x86_64 only (the classifier the POM asks for).
            boolean native64 = System.getProperty("os.name").equals("Linux")
                    && System.getProperty("os.arch").equals("amd64");
            if (native64) {
                assertThat(Crypto.Engine.accpFailure()).isNull();
                assertThat(Crypto.Engine.selected()).isEqualTo(Crypto.Engine.ACCP);
                assertThat(Crypto.Engine.ACCP.describe()).startsWith("AmazonCorrettoCryptoProvider");
            }
        }
        assertThat(Crypto.Engine.JDK.describe()).startsWith("SunJCE");
    }

    @Test
    void smallWorkStaysOnTheJdkAndBulkWorkGetsTheSelectedEngineUnlessOneIsNamed() throws Exception {
        withEngine("auto", () -> {
            // Before ACCP is loaded (always the case in the jdk-engine run) small work stays on the JDK.
            if (!Crypto.accpLoadedForTest()) {
                assertThat(Crypto.forNodes(0).engine()).isEqualTo(Crypto.Engine.JDK);
                assertThat(Crypto.forNodes(Crypto.BULK_MIN_NODES).engine()).isEqualTo(Crypto.Engine.JDK);
            }
            assertThat(Crypto.forNodes(Crypto.BULK_MIN_NODES + 1).engine()).isEqualTo(Crypto.Engine.selected());
        });
        withEngine("jdk", () -> assertThat(Crypto.forNodes(1 << 20).engine()).isEqualTo(Crypto.Engine.JDK));
        if (Crypto.Engine.accpFailure() == null) {
            withEngine("accp", () -> assertThat(Crypto.forNodes(0).engine()).isEqualTo(Crypto.Engine.ACCP));
        }
    }

    @Test
    void bothEnginesGiveTheSameCiphertextAndTagsAndAcceptEachOthers() {
        Crypto jdk = new Crypto(Crypto.Engine.JDK);
        Crypto accp = accpOrSkip();
        Random r = new Random(5);
        for (int round = 0; round < 200; round++) {
            byte[] key = new byte[16];
            r.nextBytes(key);
            int len = round < 3 ? new int[] {0, 1, Layout.NODE}[round] : 1 + r.nextInt(Layout.NODE);
            byte[] plain = new byte[len];
            r.nextBytes(plain);
            byte[] c1 = new byte[len + Layout.TAG];
            byte[] c2 = new byte[len + Layout.TAG];
            byte[] t1 = new byte[Layout.TAG];
            byte[] t2 = new byte[Layout.TAG];
            jdk.encrypt(key, plain, 0, len, c1, 0, t1, 0);
            accp.encryptSpill(key, plain, 0, len, c2, 0, t2, 0);
            assertThat(Arrays.copyOf(c2, len)).as("ciphertext, length %d", len).isEqualTo(Arrays.copyOf(c1, len));
            assertThat(t2).as("tag, length %d", len).isEqualTo(t1);
            byte[] p1 = new byte[len];
            byte[] p2 = new byte[len];
            assertThat(jdk.decrypt(key, 0, c2, 0, len, t2, 0, p1, 0)).isTrue();
            assertThat(accp.decrypt(key, 0, c1, 0, len, t1, 0, p2, 0)).isTrue();
            assertThat(p1).isEqualTo(plain);
            assertThat(p2).isEqualTo(plain);
        }
    }

    @Test
    void bothEnginesRejectADamagedNodeAndReleaseNothing() {
        Crypto jdk = new Crypto(Crypto.Engine.JDK);
        Crypto accp = accpOrSkip();
        Random r = new Random(6);
        byte[] key = new byte[16];
        r.nextBytes(key);
        byte[] plain = new byte[Layout.NODE];
        r.nextBytes(plain);
        byte[] ct = new byte[Layout.NODE + Layout.TAG];
        byte[] tag = new byte[Layout.TAG];
        jdk.encrypt(key, plain, 0, Layout.NODE, ct, 0, tag, 0);
        for (int pos : new int[] {0, 1234, Layout.NODE - 1, Layout.NODE, Layout.NODE + Layout.TAG - 1}) {
            byte[] c = ct.clone();
            byte[] t = tag.clone();
            if (pos < Layout.NODE) {
                c[pos] ^= 1;
            } else {
                t[pos - Layout.NODE] ^= (byte) 0x80;
            }
            for (Crypto engine : new Crypto[] {jdk, accp}) {
                byte[] out = new byte[Layout.NODE];
                Arrays.fill(out, (byte) 0x55);
                assertThat(engine.decrypt(key, 0, c, 0, Layout.NODE, t, 0, out, 0)).as("%s, byte %d", engine.engine(), pos)
                        .isFalse();
                assertThat(out).as("released plaintext").containsOnly(0);
            }
        }
        byte[] wrongKey = key.clone();
        wrongKey[15] ^= 1;
        assertThat(accp.decrypt(wrongKey, 0, ct, 0, Layout.NODE, tag, 0, new byte[Layout.NODE], 0)).isFalse();
    }

    @Test
    void filesWrittenOnOneEngineReadOnTheOther() throws Exception {
        accpOrSkip();
        // Large enough for the bulk engine (more than BULK_MIN_NODES data nodes, two MHT nodes).
        byte[] plain = Pf.random(3072 + 100 * 4096 + 17, 8);
        try (PfKey key = Pf.key(9)) {
            for (String[] pair : new String[][] {{"jdk", "accp"}, {"accp", "jdk"}}) {
                Path f = dir.resolve(pair[0] + ".pf");
                withEngine(pair[0], () -> Pf.encrypt(plain, f, key, "/x/" + pair[0], PfVersion.V2));
                byte[][] back = new byte[1][];
                withEngine(pair[1], () -> back[0] = Pf.decrypt(f, key, PathPolicy.expect("/x/" + pair[0])));
                assertThat(back[0]).as("written on %s, read on %s", pair[0], pair[1]).isEqualTo(plain);
                byte[] damaged = Files.readAllBytes(f);
                damaged[damaged.length - 100] ^= 1;
                Files.write(f, damaged);
                withEngine(pair[1], () -> assertThatThrownBy(() -> Pf.decrypt(f, key, PathPolicy.expect("/x/" + pair[0])))
                        .isInstanceOf(PfException.class).extracting(e -> ((PfException) e).reason())
                        .isEqualTo(PfException.Reason.AUTHENTICATION_FAILED));
            }
        }
    }

    @Test
    void anUnknownEngineNameMeansTheDefaultAndAccpCanBeRequired() throws Exception {
        withEngine("no-such-engine", () -> assertThat(Crypto.Engine.selected())
                .isEqualTo(Crypto.Engine.accpFailure() == null ? Crypto.Engine.ACCP : Crypto.Engine.JDK));
        if (Crypto.Engine.accpFailure() == null) {
            withEngine("accp", () -> assertThat(Crypto.Engine.selected()).isEqualTo(Crypto.Engine.ACCP));
        }
        withEngine("JDK", () -> assertThat(Crypto.Engine.selected()).isEqualTo(Crypto.Engine.JDK));
    }

    @Test
    void theKeystreamIsAesCtrFromCounterBlockTwoOnBothEngines() throws Exception {
        Random r = new Random(12);
        for (int round = 0; round < 20; round++) {
            byte[] key = new byte[16];
            r.nextBytes(key);
            long counter = round < 2 ? round : r.nextLong();
            int len = round == 0 ? Layout.NODE : 1 + r.nextInt(Layout.NODE);
            byte[] iv = new byte[16];
            for (int i = 0; i < 8; i++) {
                iv[i] = (byte) (counter >>> (56 - 8 * i));
            }
            iv[15] = 2; // GCM encrypts with counter blocks IV || 2, IV || 3, ...
            javax.crypto.Cipher ctr = javax.crypto.Cipher.getInstance("AES/CTR/NoPadding");
            ctr.init(javax.crypto.Cipher.ENCRYPT_MODE, new javax.crypto.spec.SecretKeySpec(key, "AES"),
                    new javax.crypto.spec.IvParameterSpec(iv));
            byte[] expected = ctr.doFinal(new byte[len]);
            for (Crypto.Engine engine : Crypto.Engine.accpFailure() == null ? Crypto.Engine.values()
                    : new Crypto.Engine[] {Crypto.Engine.JDK}) {
                byte[] got = new byte[len];
                new Crypto.Keystream(engine).fill(key, counter, got, 0, len);
                assertThat(got).as("%s, counter %d, %d bytes", engine, counter, len).isEqualTo(expected);
                byte[] data = Pf.random(len, round);
                byte[] x = data.clone();
                Crypto.Keystream hide = new Crypto.Keystream(engine);
                Crypto.Keystream reveal = new Crypto.Keystream(engine);
                hide.xor(key, counter, x, 0, len);
                assertThat(x).isNotEqualTo(data);
                reveal.xor(key, counter, x, 0, len);
                assertThat(x).isEqualTo(data);
            }
        }
    }

    @Test
    void withoutAccpOnTheClassPathTheJdkEngineTakesOver() throws Exception {
        // The module's own classes and cloister-core, without the ACCP jar, in a loader of their own.
        java.net.URL pf = Crypto.class.getProtectionDomain().getCodeSource().getLocation();
        java.net.URL core = dev.cloister.core.CloisterException.class.getProtectionDomain().getCodeSource().getLocation();
        try (java.net.URLClassLoader isolated = new java.net.URLClassLoader(new java.net.URL[] {pf, core},
                ClassLoader.getPlatformClassLoader())) {
            assertThatThrownBy(() -> isolated.loadClass("com.amazon.corretto.crypto.provider.AmazonCorrettoCryptoProvider"))
                    .isInstanceOf(ClassNotFoundException.class);
            Class<?> api = isolated.loadClass(ProtectedFiles.class.getName());
            String old = System.getProperty(Crypto.Engine.PROPERTY);
            System.clearProperty(Crypto.Engine.PROPERTY);
            try {
                assertThat((String) api.getMethod("nativeEngineFailure").invoke(null)).contains("NoClassDefFoundError");
                assertThat((String) api.getMethod("prepareBulk", long.class).invoke(null, 1L << 30)).startsWith("SunJCE");
            } finally {
                if (old != null) {
                    System.setProperty(Crypto.Engine.PROPERTY, old);
                }
            }
        }
    }

    @Test
    void prepareBulkLoadsTheBulkEngineOnlyForEnoughWork() throws Exception {
        withEngine("auto", () -> {
            assertThat(ProtectedFiles.prepareBulk(1 << 30)).startsWith(
                    Crypto.Engine.accpFailure() == null ? "AmazonCorrettoCryptoProvider" : "SunJCE");
            // Once loaded, ACCP serves small work too: its start-up is already paid.
            assertThat(Crypto.forNodes(1).engine()).isEqualTo(Crypto.Engine.selected());
        });
    }

    private static Crypto accpOrSkip() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Crypto.Engine.accpFailure() == null,
                () -> "ACCP did not load here: " + Crypto.Engine.accpFailure());
        return new Crypto(Crypto.Engine.ACCP);
    }

    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body} with the engine property set, restoring it after (the suite runs one test at a time). */
    static void withEngine(String engine, Body body) throws Exception {
        String old = System.getProperty(Crypto.Engine.PROPERTY);
        System.setProperty(Crypto.Engine.PROPERTY, engine);
        try {
            body.run();
        } finally {
            if (old == null) {
                System.clearProperty(Crypto.Engine.PROPERTY);
            } else {
                System.setProperty(Crypto.Engine.PROPERTY, old);
            }
        }
    }
}
