package dev.cloister.runtime.gramine;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The {@code unshare} prefix that starts gramine-direct as the first process of a PID namespace of its own, so that
 * when it dies (with the worker: {@code setpriv --pdeathsig KILL}) the kernel kills every process Gramine forked
 * for the program's children too; without it a forked child (a shell's {@code sleep}, say) outlives a killed
 * worker and can still write into {@code outputs/}. Root uses the namespaces directly; another user needs
 * unprivileged user namespaces ({@code --map-root-user}). Probed once; where neither works the prefix is empty and
 * only Gramine's first process dies with the worker (docs/jobs.md).
 */
final class PidNamespace {
    private PidNamespace() {}

    private static volatile List<String> prefix;

    static List<String> prefix() {
        List<String> p = prefix;
        if (p == null) {
            p = probe();
            prefix = p;
        }
        return p;
    }

    private static List<String> probe() {
        Path unshare = Path.of("/usr/bin/unshare");
        if (!Files.isExecutable(unshare)) {
            return List.of();
        }
        List<List<String>> candidates = List.of(
                List.of(unshare.toString(), "--pid", "--mount-proc", "--kill-child=SIGKILL"),
                List.of(unshare.toString(), "--user", "--map-root-user", "--pid", "--mount-proc", "--kill-child=SIGKILL"));
        for (List<String> c : candidates) {
            List<String> cmd = new ArrayList<>(c);
            cmd.add("/bin/true");
            try {
                Process pr = new ProcessBuilder(cmd).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
                if (pr.waitFor(10, TimeUnit.SECONDS) && pr.exitValue() == 0) {
                    return List.copyOf(c);
                }
                pr.destroyForcibly();
            } catch (java.io.IOException e) {
                // try the next form
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return List.of();
            }
        }
        return List.of();
    }
}
