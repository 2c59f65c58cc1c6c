package dev.cloister.runtime.sandbox;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A sandbox made with bubblewrap ({@code bwrap}): unprivileged namespaces, an empty root, explicit binds. */
public record Bubblewrap() implements Sandbox {

    @Override
    public String name() {
        return "bubblewrap";
    }

    static String probe() {
        return Sandbox.probeCommand(List.of("bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"));
    }

    @Override
    public List<String> commandLine(SandboxSpec spec) {
        List<String> c = new ArrayList<>(List.of("bwrap", "--die-with-parent", "--new-session", "--unshare-all",
                "--clearenv", "--proc", "/proc", "--dev", "/dev"));
        if (spec.network()) {
            c.add("--share-net");
        }
        for (Map.Entry<String, String> e : spec.symlinks().entrySet()) {
            c.add("--symlink");
            c.add(e.getValue());
            c.add(e.getKey());
        }
        // Private tmpfs mounts first, so that a bind may sit inside one (a class path under the host's /tmp, say).
        for (String t : spec.tmpfs()) {
            c.add("--tmpfs");
            c.add(t);
        }
        for (SandboxSpec.Bind b : spec.binds()) {
            c.add(b.writable() ? "--bind" : "--ro-bind");
            c.add(b.source().toString());
            c.add(b.target());
        }
        for (Map.Entry<String, String> e : spec.env().entrySet()) {
            c.add("--setenv");
            c.add(e.getKey());
            c.add(e.getValue());
        }
        c.add("--chdir");
        c.add(spec.workDir());
        c.add("--");
        c.addAll(spec.command());
        return c;
    }

    /**
     * The command line for a sandbox started from inside another one (the simulated enclave's inner sandbox), with
     * a private /proc: a new PID namespace and a fresh proc mount, so the program sees only its own processes and
     * never the launcher's command line (which holds host paths) or the host's.
     *
     * <p>Where the outer sandbox runs as uid 0 (a worker started by root), the outer bubblewrap has covered
     * {@code /proc/sys} and friends with read-only binds; a new user namespace would lock those mounts, and the
     * kernel refuses a fresh proc mount while every visible proc is partly covered by locked mounts. So there the
     * inner sandbox stays in the outer's user namespace (root in it may make namespaces without one) and drops
     * every capability instead. Otherwise (no covers were made) it gets its own user namespace as usual.
     */
    public List<String> nestedCommandLine(SandboxSpec spec) {
        return nestedCommandLine(spec, uidInside() == 0);
    }

    /** As {@link #nestedCommandLine(SandboxSpec)}, for a caller that knows whether it runs as uid 0. */
    public List<String> nestedCommandLine(SandboxSpec spec, boolean root) {
        List<String> c = new ArrayList<>(commandLine(spec));
        if (root) {
            int i = c.indexOf("--unshare-all");
            c.remove(i);
            List<String> ns = new ArrayList<>(List.of("--unshare-pid", "--unshare-ipc", "--unshare-uts",
                    "--unshare-cgroup-try"));
            if (!spec.network()) {
                ns.add("--unshare-net");
            }
            ns.addAll(List.of("--cap-drop", "ALL"));
            c.addAll(i, ns);
            c.remove("--share-net");
        }
        return c;
    }

    /** The real uid of this process, from /proc/self/status; -1 when it cannot be read. */
    static int uidInside() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.substring(4).strip().split("\\s+")[0]);
                }
            }
        } catch (java.io.IOException | RuntimeException e) {
            // fall through: treated as not root, which asks bubblewrap for a user namespace as before
        }
        return -1;
    }
}
