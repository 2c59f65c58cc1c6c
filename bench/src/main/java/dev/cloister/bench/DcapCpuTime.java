package dev.cloister.bench;

import com.sun.management.OperatingSystemMXBean;
import dev.cloister.attestation.dcap.DcapVerifier;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;

/**
 * Process CPU time per DCAP verification (JIT and GC threads included), for comparisons that stay meaningful when
 * the machine is shared: wall-clock medians then mostly measure the scheduler. bench/dcap-peer.sh measures the JS
 * peer the same way. Also the median over batches of 100 of the measuring thread's own CPU time per verification
 * ({@code tcpu-median} lines), which leaves out the JIT and GC threads and the batches another job disturbed most.
 * Usage: {@code java -cp cloister-bench.jar dev.cloister.bench.DcapCpuTime [runs]}.
 */
public final class DcapCpuTime {
    private DcapCpuTime() {}

    public static void main(String[] args) throws Exception {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 2000;
        Path dir = DcapBench.dataDir();
        String[][] cases = {{"sgx", "dcap-qvl/sgx_quote", "dcap-qvl/sgx_quote_collateral.json", "1752919277"},
            {"tdx", "dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json", "1752919234"}};
        OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        for (String[] c : cases) {
            byte[] q = Files.readAllBytes(dir.resolve(c[1]));
            byte[] col = Files.readAllBytes(dir.resolve(c[2]));
            Instant at = Instant.ofEpochSecond(Long.parseLong(c[3]));
            for (String mode : new String[] {"Full", "Cached"}) {
                DcapVerifier v = mode.equals("Full") ? DcapVerifier.intelRoot().withoutCache() : DcapVerifier.intelRoot();
                for (int i = 0; i < 3000; i++) {
                    v.verify(q, col, at);
                }
                long t0 = os.getProcessCpuTime();
                for (int i = 0; i < runs; i++) {
                    v.verify(q, col, at);
                }
                System.out.printf("cpu %s%s %.4f%n", c[0], mode, (os.getProcessCpuTime() - t0) / 1e6 / runs);
                double[] batches = new double[Math.max(1, runs / 100)];
                for (int b = 0; b < batches.length; b++) {
                    long s0 = threads.getCurrentThreadCpuTime();
                    for (int i = 0; i < 100; i++) {
                        v.verify(q, col, at);
                    }
                    batches[b] = (threads.getCurrentThreadCpuTime() - s0) / 1e6 / 100;
                }
                Arrays.sort(batches);
                System.out.printf("tcpu-median %s%s %.4f%n", c[0], mode, batches[batches.length / 2]);
            }
        }
    }
}
