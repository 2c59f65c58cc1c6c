package dev.cloister.runtime.sandbox;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The fallback sandbox: util-linux {@code unshare} creates user, mount, PID, IPC, UTS and (unless the spec asks
 * for it) network namespaces; a small shell script inside builds an empty tmpfs root with the spec's binds and
 * {@code chroot}s into it. Same isolation of files and network as bubblewrap, with less polish.
 */
public record UnshareSandbox() implements Sandbox {

    @Override
    public String name() {
        return "unshare";
    }

    static String probe() {
        return Sandbox.probeCommand(List.of("unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork",
                "--net", "sh", "-c", "mount -t tmpfs tmpfs /mnt 2>/dev/null || mount -t tmpfs tmpfs /tmp"));
    }

    @Override
    public List<String> commandLine(SandboxSpec spec) {
        StringBuilder s = new StringBuilder("set -e\n");
        s.append("R=$(mktemp -d)\nmount -t tmpfs -o mode=0755 cloister-root \"$R\"\n");
        for (Map.Entry<String, String> e : spec.symlinks().entrySet()) {
            s.append("mkdir -p \"$(dirname \"$R\"").append(quote(e.getKey())).append(")\"; ln -s ")
                    .append(quote(e.getValue())).append(" \"$R\"").append(quote(e.getKey())).append('\n');
        }
        // Private tmpfs mounts first, so that a bind may sit inside one (as with bubblewrap).
        for (String t : spec.tmpfs()) {
            s.append("mkdir -p \"$R\"").append(quote(t)).append("; mount -t tmpfs tmpfs \"$R\"").append(quote(t)).append('\n');
        }
        for (SandboxSpec.Bind b : spec.binds()) {
            String src = quote(b.source().toString());
            String dst = "\"$R\"" + quote(b.target());
            s.append("if [ -d ").append(src).append(" ]; then mkdir -p ").append(dst)
                    .append("; else mkdir -p \"$(dirname ").append(dst).append(")\"; : > ").append(dst).append("; fi\n");
            s.append("mount --rbind ").append(src).append(' ').append(dst).append('\n');
            if (!b.writable()) {
                s.append("mount -o remount,bind,ro ").append(dst).append('\n');
            }
        }
        s.append("mkdir -p \"$R/proc\" \"$R/dev\"; mount -t proc proc \"$R/proc\"\n");
        for (String dev : List.of("null", "zero", "full", "random", "urandom", "tty")) {
            s.append(": > \"$R/dev/").append(dev).append("\"; mount --bind /dev/").append(dev).append(" \"$R/dev/")
                    .append(dev).append("\"\n");
        }
        // env and unshare run from the host; unshare --root/--wd then chroots and changes directory, so the
        // sandbox needs no shell of its own.
        s.append("set +e\n/usr/bin/env -i");
        for (Map.Entry<String, String> e : spec.env().entrySet()) {
            s.append(' ').append(quote(e.getKey() + "=" + e.getValue()));
        }
        s.append(" /usr/bin/unshare --root=\"$R\" --wd=").append(quote(spec.workDir())).append(" --");
        for (String a : spec.command()) {
            s.append(' ').append(quote(a));
        }
        // The mounts vanish with the namespace; only the empty mount point is left on the host, so remove it.
        s.append("\nst=$?\numount -R \"$R\" 2>/dev/null; rmdir \"$R\" 2>/dev/null\nexit $st\n");
        List<String> c = new ArrayList<>(List.of("unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork",
                "--ipc", "--uts", "--kill-child"));
        if (!spec.network()) {
            c.add("--net");
        }
        c.addAll(List.of("/bin/sh", "-c", s.toString()));
        return c;
    }

    /**
     * The command line for a sandbox started from inside another unshare sandbox (the simulated enclave's inner
     * sandbox). A chrooted process may not create a user namespace, so the inner one reuses the outer's, where it
     * already holds the capabilities to make its own mount, PID, IPC, UTS and network namespaces.
     */
    public List<String> nestedCommandLine(SandboxSpec spec) {
        List<String> c = new ArrayList<>(commandLine(spec));
        c.remove("--user");
        c.remove("--map-root-user");
        return c;
    }

    private static String quote(String v) {
        return "'" + v.replace("'", "'\\''") + "'";
    }
}
