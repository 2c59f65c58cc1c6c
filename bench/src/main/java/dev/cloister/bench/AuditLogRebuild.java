package dev.cloister.bench;

import dev.cloister.kbs.KbsStore;
import dev.cloister.kbs.MasterKey;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;

/**
 * What the first checkpoint after a broker start costs on a large audit log: reading every entry from SQLite and
 * hashing it into the Merkle tree. The rows are made with one SQL statement (their MAC chain is not valid; the
 * tree does not read the MACs). Usage: {@code java -cp cloister-bench.jar dev.cloister.bench.AuditLogRebuild
 * [ENTRIES] [DIR]} (default 1000000 in /dev/shm).
 */
public final class AuditLogRebuild {
    private AuditLogRebuild() {
    }

    public static void main(String[] args) throws Exception {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000;
        Path dir = Files.createTempDirectory(Path.of(args.length > 1 ? args[1] : "/dev/shm"), "auditlog-");
        String db = dir.resolve("kbs.db").toString();
        MasterKey mk = MasterKey.generate();
        try (KbsStore s = KbsStore.open(db, mk, Clock.systemUTC())) {
            s.executeRaw("INSERT INTO audit (seq, at, actor, action, namespace, subject, outcome, detail, prev_hash, "
                    + "hash) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < " + n + ") "
                    + "SELECT x, 1764288000000 + x, 'token:0123456789ab', 'release', 'lab', 'job-' || x || '@1', 'ok', "
                    + "'kem X25519; SGX mrenclave ' || hex(randomblob(32)), zeroblob(32), zeroblob(32) FROM c");
        }
        for (int round = 1; round <= 3; round++) {
            try (KbsStore s = KbsStore.open(db, mk, Clock.systemUTC())) {
                long cpu0 = java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
                long t0 = System.nanoTime();
                String first = s.checkpoint();
                long t1 = System.nanoTime();
                long cpu1 = java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
                s.checkpoint();
                long t2 = System.nanoTime();
                System.out.printf("round %d: %d entries, first checkpoint after start %.2f s (%.2f CPU-s on this "
                        + "thread), the next %.3f ms; heap used %d MiB%n", round, n, (t1 - t0) / 1e9,
                        (cpu1 - cpu0) / 1e9, (t2 - t1) / 1e6, (Runtime.getRuntime().totalMemory()
                                - Runtime.getRuntime().freeMemory()) >> 20);
                if (!first.contains("\n" + n + "\n")) {
                    throw new IllegalStateException("checkpoint does not cover " + n + " entries: " + first);
                }
            }
        }
        try (var w = Files.walk(dir)) {
            w.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
