package dev.cloister.runtime.sandbox;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What a sandboxed process may see: nothing of the host but the listed binds, private tmpfs mounts, a fresh
 * /proc and a minimal /dev, no network unless asked, and the given command, environment and working directory.
 *
 * @param binds host paths mapped into the sandbox, in order (later binds may sit inside earlier ones)
 * @param tmpfs sandbox paths that get a private, memory-backed file system
 * @param symlinks symbolic links to create, link path -> link target (e.g. {@code /bin -> usr/bin})
 * @param command the program and its arguments, as seen inside the sandbox
 * @param env the complete environment (nothing is inherited from the host)
 * @param workDir the working directory inside the sandbox
 * @param network whether the host's network is visible; if not, the sandbox has only its own loopback
 */
public record SandboxSpec(
        List<Bind> binds, List<String> tmpfs, Map<String, String> symlinks, List<String> command, Map<String, String> env, String workDir,
        boolean network) {

    /** A host path visible at {@code target} inside the sandbox, read-only unless {@code writable}. */
    public record Bind(Path source, String target, boolean writable) {
        public Bind {
            Objects.requireNonNull(source, "source");
            checkAbsolute(target);
        }
    }

    public SandboxSpec {
        binds = List.copyOf(binds);
        tmpfs = List.copyOf(tmpfs);
        symlinks = Map.copyOf(symlinks);
        symlinks.keySet().forEach(SandboxSpec::checkAbsolute);
        command = List.copyOf(command);
        env = Map.copyOf(env);
        if (command.isEmpty()) {
            throw new IllegalArgumentException("sandbox command is empty");
        }
        tmpfs.forEach(SandboxSpec::checkAbsolute);
        checkAbsolute(workDir);
    }

    private static void checkAbsolute(String p) {
        if (p == null || !p.startsWith("/") || p.contains("/../") || p.endsWith("/..") || p.contains("\0")) {
            throw new IllegalArgumentException("sandbox path must be absolute and normalized: " + p);
        }
    }

    /** Starts building a spec for {@code command}. */
    public static Builder builder(List<String> command) {
        return new Builder(command);
    }

    /** Accumulates a {@link SandboxSpec}. */
    public static final class Builder {
        private final List<Bind> binds = new ArrayList<>();
        private final List<String> tmpfs = new ArrayList<>();
        private final Map<String, String> symlinks = new LinkedHashMap<>();
        private final List<String> command;
        private final Map<String, String> env = new LinkedHashMap<>();
        private String workDir = "/";
        private boolean network;

        private Builder(List<String> command) {
            this.command = List.copyOf(command);
            env.put("PATH", "/usr/local/bin:/usr/bin:/bin");
        }

        public Builder readOnly(Path source, String target) {
            binds.add(new Bind(source, target, false));
            return this;
        }

        public Builder writable(Path source, String target) {
            binds.add(new Bind(source, target, true));
            return this;
        }

        public Builder tmpfs(String target) {
            tmpfs.add(target);
            return this;
        }

        public Builder symlink(String link, String target) {
            symlinks.put(link, target);
            return this;
        }

        /** The links a merged-/usr Debian or Fedora root has: /bin, /sbin, /lib, /lib64 into /usr. */
        public Builder usrMergeLinks() {
            for (String d : List.of("bin", "sbin", "lib", "lib64")) {
                symlinks.put("/" + d, "usr/" + d);
            }
            return this;
        }

        public Builder env(String name, String value) {
            env.put(name, value);
            return this;
        }

        public Builder workDir(String dir) {
            workDir = dir;
            return this;
        }

        public Builder network(boolean on) {
            network = on;
            return this;
        }

        public SandboxSpec build() {
            return new SandboxSpec(binds, tmpfs, symlinks, command, env, workDir, network);
        }
    }
}
