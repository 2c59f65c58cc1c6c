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
        for (SandboxSpec.Bind b : spec.binds()) {
            c.add(b.writable() ? "--bind" : "--ro-bind");
            c.add(b.source().toString());
            c.add(b.target());
        }
        for (String t : spec.tmpfs()) {
            c.add("--tmpfs");
            c.add(t);
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
     * The command line for a sandbox started from inside another one (the simulated enclave's inner sandbox).
     * A nested PID namespace cannot mount a fresh /proc there, so the outer sandbox's /proc is bound read-only
     * instead; it shows only the outer sandbox's own processes.
     */
    public List<String> nestedCommandLine(SandboxSpec spec) {
        List<String> c = new ArrayList<>(commandLine(spec));
        int i = c.indexOf("--proc");
        c.set(i, "--ro-bind");
        c.add(i + 1, "/proc");
        return c;
    }
}
