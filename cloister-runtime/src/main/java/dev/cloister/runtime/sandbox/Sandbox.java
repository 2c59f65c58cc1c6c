package dev.cloister.runtime.sandbox;

import dev.cloister.core.CloisterException;
import java.io.IOException;
import java.util.List;

/**
 * Runs a process that sees only what a {@link SandboxSpec} allows. Under the simulation backend a sandbox
 * stands in for the enclave: it gives isolation of files, processes and network, not the memory encryption or
 * attestation of real hardware, and Cloister never presents it as protection.
 */
public sealed interface Sandbox permits Bubblewrap, UnshareSandbox {

    /** A short name for reports: {@code bubblewrap} or {@code unshare}. */
    String name();

    /** The host command line that runs {@code spec}. */
    List<String> commandLine(SandboxSpec spec);

    /** Starts the sandboxed process; the caller owns its streams. */
    default Process start(SandboxSpec spec, ProcessBuilder.Redirect out, ProcessBuilder.Redirect err) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(commandLine(spec));
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        return pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(out).redirectError(err).start();
    }

    /** What {@link #detect()} found and why, for logs and reports. */
    record Detection(Sandbox sandbox, String note) {}

    /**
     * Picks bubblewrap if it is installed and can create namespaces here; otherwise util-linux {@code unshare},
     * which every Linux has, and says so.
     *
     * @throws CloisterException ENVIRONMENT if neither can create the namespaces a sandbox needs
     */
    static Detection detect() throws CloisterException {
        String bwrapProblem = Bubblewrap.probe();
        if (bwrapProblem == null) {
            return new Detection(new Bubblewrap(), "sandbox: bubblewrap");
        }
        String unshareProblem = UnshareSandbox.probe();
        if (unshareProblem == null) {
            return new Detection(new UnshareSandbox(),
                    "sandbox: bubblewrap unavailable (" + bwrapProblem + "); using util-linux unshare instead");
        }
        throw new CloisterException(CloisterException.Kind.ENVIRONMENT,
                "no usable sandbox: bubblewrap " + bwrapProblem + "; unshare " + unshareProblem
                        + " (install bubblewrap, e.g. 'apt-get install bubblewrap', and allow user namespaces)");
    }

    /** Runs a short probe command and returns null if it exits 0, else a reason. */
    static String probeCommand(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "probe timed out";
            }
            if (p.exitValue() == 0) {
                return null;
            }
            String msg = new String(out, java.nio.charset.StandardCharsets.UTF_8).strip();
            return "cannot create namespaces here" + (msg.isEmpty() ? "" : ": " + msg.lines().findFirst().orElse(""));
        } catch (IOException e) {
            return "is not installed";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "probe interrupted";
        }
    }
}
