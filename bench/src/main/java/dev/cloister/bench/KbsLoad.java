package dev.cloister.bench;

import dev.cloister.attestation.SgxMeasurements;
import dev.cloister.attestation.TcbStatus;
import dev.cloister.attestation.VerifiedEvidence;
import dev.cloister.attestation.dcap.DcapVerifier;
import dev.cloister.attestation.sim.SimulatedEvidence;
import dev.cloister.attestation.sim.Simulator;
import dev.cloister.kbs.HpkeSuite;
import dev.cloister.kbs.KbsClient;
import dev.cloister.kbs.KbsException;
import dev.cloister.kbs.ReleaseBinding;
import dev.cloister.kbs.SecretKind;
import dev.cloister.kbs.Tls;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.bouncycastle.crypto.AsymmetricCipherKeyPair;

/**
 * Load generator for the key broker (bench/kbs-load.sh): concurrent simulated SGX workloads each running the whole
 * release protocol in a loop against a broker on loopback: {@code GET /v1/nonce}, a fresh X25519 HPKE key, a quote
 * whose report data is SHA-256(nonce || key), {@code POST /v1/release}, and opening the sealed answer.
 *
 * <p>As on a real platform, the collateral (TCB Info, QE Identity, CRLs, valid 30 days) is made once per run and
 * sent with every release, and per release only the quote is signed again ({@link SimQuoteSigner}). Each client
 * keeps its HTTPS connection alive between releases. By default the requests go through {@link LeanHttps} (a
 * blocking HTTP/1.1 client, so that the generator's own CPU leaves room for the broker on a shared 2-core
 * machine); {@code -Dkbs.client=jdk} uses {@link KbsClient} and the JDK HttpClient instead. With
 * {@code -Dkbs.brokerPid=PID} the summary also gives the broker's CPU per release during the measured part.
 *
 * <p>Latency is measured per release (nonce to opened secret) and every sample is kept: the final percentiles are
 * exact (sorted samples). Without a target rate the clients run closed-loop (each starts its next release when the
 * last one ends), which hides queueing delay from the figures (coordinated omission) when the broker stalls. With
 * a target rate each client follows a fixed schedule and latency counts from the scheduled start, so a stall is
 * charged to every release that should have started during it. Every REPORT seconds one line gives that
 * interval's rate and percentiles (from a 10 µs-resolution histogram).
 *
 * <p>Usage: KbsLoad URL CA_PEM ADMIN_TOKEN_FILE CLIENTS SECONDS WARMUP_SECONDS [TARGET_RATE=0 [REPORT_SECONDS=30]]
 */
public final class KbsLoad {
    private static final ObjectMapper JSON = new ObjectMapper();

    private KbsLoad() {}

    public static void main(String[] args) throws Exception {
        URI url = URI.create(args[0]);
        var tls = Tls.clientContextTrusting(Tls.readCertificates(Path.of(args[1])));
        String adminToken = Files.readString(Path.of(args[2])).strip();
        int clients = Integer.parseInt(args[3]);
        int seconds = Integer.parseInt(args[4]);
        int warmup = Integer.parseInt(args[5]);
        double targetRate = args.length > 6 ? Double.parseDouble(args[6]) : 0;
        int reportEvery = args.length > 7 ? Integer.parseInt(args[7]) : 30;

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

        // One platform's collateral for the whole run (valid 30 days from now), and a template quote to re-sign.
        Instant issued = Instant.now();
        SimulatedEvidence evidence = Simulator.standard().sgxQuote(m, new byte[64], TcbStatus.UP_TO_DATE, issued);
        byte[] collateral = evidence.collateral();
        byte[] templateQuote = evidence.quote();
        selfCheck(templateQuote, collateral, issued);
        RequestTemplate template = new RequestTemplate(ns, "pf", collateral);

        boolean jdkClient = System.getProperty("kbs.client", "lean").equals("jdk");
        long brokerPid = Long.getLong("kbs.brokerPid", 0L);
        long start = System.nanoTime();
        long warmEnd = start + warmup * 1_000_000_000L;
        long end = warmEnd + seconds * 1_000_000_000L;
        long period = targetRate > 0 ? (long) (clients * 1e9 / targetRate) : 0;
        AtomicLong errors = new AtomicLong();
        AtomicLong all = new AtomicLong();
        AtomicReference<Histogram> interval = new AtomicReference<>(new Histogram());
        List<Samples> perThread = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < clients; i++) {
            Samples lat = new Samples();
            perThread.add(lat);
            long offset = period * i / clients;
            Thread t = Thread.ofPlatform().name("load-" + i).start(() -> {
                SimQuoteSigner signer;
                try {
                    signer = new SimQuoteSigner(templateQuote);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                Releaser c = jdkClient ? jdkReleaser(new KbsClient(url, null, tls), ns, signer, collateral)
                        : leanReleaser(new LeanHttps(url, tls), ns, signer, template);
                long next = start + offset;
                boolean rebased = false;
                while (true) {
                    long t0;
                    if (period > 0) {
                        long now = System.nanoTime();
                        if (!rebased && now >= warmEnd) {
                            // A backlog built up while the JIT was still warming would be charged to the measured
                            // part; the schedule restarts when the measurement does.
                            rebased = true;
                            next = Math.max(next, warmEnd + offset);
                        }
                        if (now < next) {
                            LockSupport.parkNanos(next - now);
                        }
                        t0 = next;
                        next += period;
                    } else {
                        t0 = System.nanoTime();
                    }
                    if (t0 >= end) {
                        break;
                    }
                    try {
                        c.release();
                        long t1 = System.nanoTime();
                        all.incrementAndGet();
                        if (t0 >= warmEnd) {
                            lat.add(t1 - t0);
                        }
                        interval.get().record(t1 - t0);
                    } catch (Exception e) {
                        if (errors.incrementAndGet() < 5) {
                            System.err.println("release failed: " + e);
                        }
                    }
                }
            });
            threads.add(t);
        }
        long[] cpuAtWarmEnd = new long[2];
        Thread cpuMark = Thread.ofPlatform().daemon().name("load-cpu").start(() -> {
            long now;
            while ((now = System.nanoTime()) < warmEnd) {
                LockSupport.parkNanos(warmEnd - now);
            }
            cpuAtWarmEnd[0] = ownCpuNanos();
            cpuAtWarmEnd[1] = brokerCpuNanos(brokerPid);
        });
        Thread reporter = Thread.ofPlatform().daemon().name("load-report").start(() -> {
            long t = start;
            while (true) {
                long wake = t + reportEvery * 1_000_000_000L;
                long now;
                while ((now = System.nanoTime()) < wake) {
                    LockSupport.parkNanos(wake - now);
                }
                Histogram h = interval.getAndSet(new Histogram());
                double secs = (now - t) / 1e9;
                System.out.printf("interval t=%ds releases=%d rate=%.1f/s p50=%.1fms p99=%.1fms max=%.1fms%s%n",
                        Math.round((now - start) / 1e9), h.count(), h.count() / secs, h.percentile(50) / 1e6,
                        h.percentile(99) / 1e6, h.max() / 1e6, now <= warmEnd ? " (warm-up)" : "");
                t = now;
            }
        });
        for (Thread t : threads) {
            t.join();
        }
        long ownCpu = ownCpuNanos() - cpuAtWarmEnd[0];
        long brokerCpu = brokerCpuNanos(brokerPid) - cpuAtWarmEnd[1];
        cpuMark.join();
        reporter.interrupt();
        long total = 0;
        for (Samples l : perThread) {
            total += l.size;
        }
        long[] lats = new long[(int) total];
        int k = 0;
        for (Samples l : perThread) {
            System.arraycopy(l.values, 0, lats, k, l.size);
            k += l.size;
        }
        Arrays.sort(lats);
        double rate = total / (double) seconds;
        System.out.printf("clients=%d seconds=%d mode=%s client=%s releases=%d errors=%d rate=%.1f/s p50=%.1fms "
                + "p90=%.1fms p99=%.1fms p99.9=%.1fms max=%.1fms all_releases_incl_warmup=%d "
                + "generator_cpu_ms_per_release=%.2f%s%n",
                clients, seconds, period > 0 ? "open-loop@" + targetRate + "/s" : "closed-loop",
                jdkClient ? "jdk-httpclient" : "lean", total, errors.get(), rate, pct(lats, 50), pct(lats, 90),
                pct(lats, 99), pct(lats, 99.9), lats.length == 0 ? 0 : lats[lats.length - 1] / 1e6, all.get(),
                ownCpu / 1e6 / Math.max(1, total),
                brokerPid > 0 ? String.format(" broker_cpu_ms_per_release=%.2f", brokerCpu / 1e6 / Math.max(1, total))
                        : "");
    }

    /** One whole release by one client. */
    @FunctionalInterface
    private interface Releaser {
        void release() throws Exception;
    }

    /** Through the client library, as a workload would (JDK HttpClient underneath). */
    private static Releaser jdkReleaser(KbsClient c, String ns, SimQuoteSigner signer, byte[] collateral) {
        return () -> check(c.release(ns, "pf", null, HpkeSuite.X25519,
                rd -> new byte[][] {signer.quote(rd), collateral}).value());
    }

    /** The same protocol and the library's request and answer code, over {@link LeanHttps}. */
    private static Releaser leanReleaser(LeanHttps http, String ns, SimQuoteSigner signer, RequestTemplate template) {
        return () -> {
            LeanHttps.Response n = http.call("GET", "/v1/nonce", null);
            if (n.status() != 200) {
                throw KbsException.unavailable("nonce: HTTP " + n.status() + " " + n.body(), null);
            }
            byte[] nonce = Base64.getDecoder().decode(n.body().get("nonce").asText());
            AsymmetricCipherKeyPair kp = HpkeSuite.X25519.generateKeyPair();
            byte[] pk = HpkeSuite.X25519.publicKey(kp);
            byte[] quote = signer.quote(ReleaseBinding.reportData(nonce, pk));
            // The same JSON as KbsClient.releaseRequest (checked once by the constructor below), with the
            // collateral's base64 made once: escaping its 12 KB through Jackson was a tenth of the generator's CPU.
            byte[] body = template.body(nonce, quote, pk);
            LeanHttps.Response r = http.call("POST", "/v1/release", body);
            if (r.status() != 200) {
                throw KbsException.unavailable("release: HTTP " + r.status() + " " + r.body(), null);
            }
            check(KbsClient.openRelease(r.body(), ns, "pf", HpkeSuite.X25519, kp).value());
        };
    }

    /** The body of {@code POST /v1/release} for one secret and one collateral, with the varying fields filled in. */
    private static final class RequestTemplate {
        private final byte[] head;
        private final byte[] collateralTail;

        RequestTemplate(String ns, String name, byte[] collateral) throws java.io.IOException {
            // Namespace and secret names are restricted to characters that need no JSON escaping.
            head = ("{\"namespace\":\"" + ns + "\",\"secret\":\"" + name + "\",\"nonce\":\"")
                    .getBytes(StandardCharsets.US_ASCII);
            collateralTail = ("\",\"collateral\":\"" + Base64.getEncoder().encodeToString(collateral)
                    + "\",\"kem\":\"X25519\",\"publicKey\":\"").getBytes(StandardCharsets.US_ASCII);
            byte[] nonce = new byte[32];
            byte[] quote = new byte[100];
            byte[] pk = new byte[32];
            Arrays.fill(quote, (byte) 9);
            if (!JSON.readTree(body(nonce, quote, pk)).equals(KbsClient.releaseRequest(ns, name, null, nonce,
                    new byte[][] {quote, collateral}, HpkeSuite.X25519, pk))) {
                throw new IllegalStateException("release request template differs from KbsClient.releaseRequest");
            }
        }

        byte[] body(byte[] nonce, byte[] quote, byte[] publicKey) {
            Base64.Encoder b64 = Base64.getEncoder();
            byte[] n = b64.encode(nonce);
            byte[] q = b64.encode(quote);
            byte[] k = b64.encode(publicKey);
            byte[] mid = "\",\"evidence\":\"".getBytes(StandardCharsets.US_ASCII);
            byte[] out = new byte[head.length + n.length + mid.length + q.length + collateralTail.length + k.length + 2];
            int o = 0;
            for (byte[] part : new byte[][] {head, n, mid, q, collateralTail, k}) {
                System.arraycopy(part, 0, out, o, part.length);
                o += part.length;
            }
            out[o++] = '"';
            out[o] = '}';
            return out;
        }
    }

    private static void check(byte[] secret) throws KbsException {
        if (secret.length != 16) {
            throw KbsException.badRequest("released secret has " + secret.length + " bytes, not 16");
        }
    }

    private static long ownCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** User + system CPU of another process from /proc (clock ticks of 10 ms), or 0 without a pid. */
    private static long brokerCpuNanos(long pid) {
        if (pid <= 0) {
            return 0;
        }
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // fields 14 and 15 of stat(5), counted from the state field (3rd) here
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * (1_000_000_000L / Long.getLong("kbs.clkTck", 100));
        } catch (java.io.IOException | RuntimeException e) {
            return 0;
        }
    }

    /** Fails before the run when the re-signed quote would not verify, rather than counting thousands of 403s. */
    private static void selfCheck(byte[] templateQuote, byte[] collateral, Instant at) throws Exception {
        byte[] nonce = new byte[32];
        byte[] key = new byte[32];
        Arrays.fill(key, (byte) 7);
        byte[] rd = ReleaseBinding.reportData(nonce, key);
        VerifiedEvidence v = DcapVerifier.withSimulation().verify(new SimQuoteSigner(templateQuote).quote(rd),
                collateral, at);
        if (!Arrays.equals(v.reportData(), rd)) {
            throw new IllegalStateException("re-signed quote does not carry the report data written into it");
        }
    }

    private static double pct(long[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int i = (int) Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1);
        return sorted[Math.max(0, i)] / 1e6;
    }

    /** A growable array of one thread's latency samples (ns). */
    private static final class Samples {
        long[] values = new long[1 << 16];
        int size;

        void add(long v) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = v;
        }
    }

    /**
     * Concurrent latency histogram: 10 µs buckets up to 100 ms, 1 ms buckets up to 10 s, then one overflow bucket;
     * percentiles are reported as the upper edge of their bucket.
     */
    private static final class Histogram {
        private static final int FINE = 10_000;
        private static final int COARSE = 9_900;
        private final AtomicLongArray buckets = new AtomicLongArray(FINE + COARSE + 1);
        private final AtomicLong count = new AtomicLong();
        private final AtomicLong max = new AtomicLong();

        void record(long ns) {
            long us = ns / 1000;
            int i = us < 100_000 ? (int) (us / 10) : us < 10_000_000 ? FINE + (int) ((us - 100_000) / 1000)
                    : FINE + COARSE;
            buckets.incrementAndGet(i);
            count.incrementAndGet();
            max.accumulateAndGet(ns, Math::max);
        }

        long count() {
            return count.get();
        }

        long max() {
            return max.get();
        }

        long percentile(double p) {
            long n = count.get();
            if (n == 0) {
                return 0;
            }
            long rank = (long) Math.ceil(p / 100 * n);
            long seen = 0;
            for (int i = 0; i < buckets.length(); i++) {
                seen += buckets.get(i);
                if (seen >= rank) {
                    long upperUs = i < FINE ? (i + 1) * 10L : i < FINE + COARSE ? 100_000 + (i - FINE + 1) * 1000L
                            : max.get() / 1000;
                    return Math.min(upperUs * 1000, max.get());
                }
            }
            return max.get();
        }
    }
}
