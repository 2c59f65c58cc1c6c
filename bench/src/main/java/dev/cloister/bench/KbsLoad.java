package dev.cloister.bench;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.kbs.HpkeSuite;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.SecretKind;
import dev.cloister.kbs.Tls;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Load generator for the key broker (bench/kbs-load.sh): concurrent workloads each running the whole release
 * protocol (nonce, simulated SGX quote over SHA-256(nonce || HPKE key), release, HPKE open) in a loop against a
 * broker on loopback. Prints releases per second and latency percentiles of whole releases.
 *
 * <p>Usage: KbsLoad URL CA_PEM ADMIN_TOKEN_FILE CLIENTS SECONDS WARMUP_SECONDS
 */
public final class KbsLoad {
    private KbsLoad() {}

    public static void main(String[] args) throws Exception {
        URI url = URI.create(args[0]);
        var tls = Tls.clientContextTrusting(Tls.readCertificates(Path.of(args[1])));
        String adminToken = Files.readString(Path.of(args[2])).strip();
        int clients = Integer.parseInt(args[3]);
        int seconds = Integer.parseInt(args[4]);
        int warmup = Integer.parseInt(args[5]);

        byte[] mrEnclave = HexFormat.of().parseHex("5a".repeat(32));
        byte[] mrSigner = HexFormat.of().parseHex("a5".repeat(32));
        byte[] attrs = new byte[16];
        attrs[0] = 0x05;
        attrs[8] = 0x03;
        SgxMeasurements m = new SgxMeasurements(mrEnclave, mrSigner, 1, 3, attrs, false);
        KbsClient admin = new KbsClient(url, adminToken, tls);
        String ns = "load" + Long.toHexString(System.nanoTime() & 0xffffff);
        admin.createNamespace(ns);
        admin.storeSecret(ns, "pf", SecretKind.PF_KEY, null, false);
        admin.setPolicy(ns, "pf", "E:" + HexFormat.of().formatHex(mrEnclave) + " S:"
                + HexFormat.of().formatHex(mrSigner) + " PROD:1 SVN:3 TCB:UpToDate SIM:ALLOW");
        Simulator sim = Simulator.standard();

        long warmEnd = System.nanoTime() + warmup * 1_000_000_000L;
        long end = warmEnd + seconds * 1_000_000_000L;
        AtomicLong errors = new AtomicLong();
        AtomicLong all = new AtomicLong();
        List<long[]> perThread = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            long[] lat = new long[2_000_000];
            perThread.add(lat);
            Thread t = Thread.ofPlatform().name("load-" + i).start(() -> {
                KbsClient c = new KbsClient(url, null, tls);
                int n = 0;
                while (true) {
                    long t0 = System.nanoTime();
                    if (t0 >= end) {
                        break;
                    }
                    try {
                        c.release(ns, "pf", null, HpkeSuite.X25519, rd -> {
                            SimulatedEvidence e = sim.sgxQuote(m, rd, TcbStatus.UP_TO_DATE, Instant.now());
                            return new byte[][] {e.quote(), e.collateral()};
                        });
                        long t1 = System.nanoTime();
                        all.incrementAndGet();
                        if (t0 >= warmEnd && n < lat.length - 1) {
                            lat[++n] = t1 - t0;
                        }
                    } catch (KbsException e) {
                        errors.incrementAndGet();
                        if (errors.get() < 5) {
                            System.err.println("release failed: " + e.getMessage());
                        }
                    } catch (Exception e) {
                        errors.incrementAndGet();
                    }
                }
                lat[0] = n;
            });
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        int total = 0;
        for (long[] l : perThread) {
            total += (int) l[0];
        }
        long[] lats = new long[total];
        int k = 0;
        for (long[] l : perThread) {
            System.arraycopy(l, 1, lats, k, (int) l[0]);
            k += (int) l[0];
        }
        Arrays.sort(lats);
        double rate = total / (double) seconds;
        System.out.printf("clients=%d seconds=%d releases=%d errors=%d rate=%.1f/s p50=%.1fms p90=%.1fms p99=%.1fms "
                + "max=%.1fms all_releases_incl_warmup=%d%n", clients, seconds, total, errors.get(), rate, pct(lats, 50),
                pct(lats, 90), pct(lats, 99), lats.length == 0 ? 0 : lats[lats.length - 1] / 1e6, all.get());
    }

    private static double pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int i = (int) Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1);
        return sorted[Math.max(0, i)] / 1e6;
    }
}
