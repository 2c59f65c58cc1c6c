package dev.cloister.pipeline;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Optional;

/**
 * Runs steps as processes on this machine, each in its own session so that it survives the orchestrator and
 * can be found again by PID. A step's time limit is enforced by the step's own wrapper (coreutils'
 * {@code timeout}), so it holds even while no orchestrator runs.
 */
public final class LocalExecutor implements StepExecutor {
    @Override
    public String name() {
        return "local";
    }

    @Override
    public String submit(StepLaunch l) throws IOException {
        Files.createDirectories(l.dir());
        ProcessBuilder pb = new ProcessBuilder(List.of("setsid", "/bin/sh", "-c", StepExecutor.wrapperScript(l, true)))
                .directory(l.dir().toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(l.log().toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Process p = pb.start();
        return Long.toString(p.pid());
    }

    @Override
    public boolean alive(String handle) {
        Optional<ProcessHandle> h = ProcessHandle.of(Long.parseLong(handle));
        return h.isPresent() && h.get().isAlive() && !isZombie(handle);
    }

    private static boolean isZombie(String pid) {
        try {
            String stat = Files.readString(java.nio.file.Path.of("/proc", pid, "stat"));
            int close = stat.lastIndexOf(')');
            return close > 0 && stat.length() > close + 2 && stat.charAt(close + 2) == 'Z';
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void cancel(String handle) {
        long pid = Long.parseLong(handle);
        // setsid made the wrapper a session and process-group leader: signal the whole session, the program
        // included. The group alone is not enough: timeout(1), which runs a step with a time limit, puts itself
        // and the program into a group of their own (within the same session).
        try {
            new ProcessBuilder("pkill", "-TERM", "-s", Long.toString(pid)).start().waitFor();
            new ProcessBuilder("kill", "-TERM", "--", "-" + pid).start().waitFor();
        } catch (IOException e) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroy);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
