package dev.cloister.bundle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The file system a bundle's program will see, assembled from roots mounted at enclave paths (for example the
 * machine's {@code /} with an application directory at {@code /app}). Every lookup stays inside the root that
 * owns the path.
 */
public final class Namespace {
    private final List<Map.Entry<String, RootFs>> mounts;

    /** A namespace with {@code root} at {@code /}. */
    public Namespace(RootFs root) {
        this.mounts = new ArrayList<>();
        mounts.add(Map.entry("/", root));
    }

    /** Mounts {@code fs} at the absolute enclave path {@code at}, shadowing what was there. */
    public Namespace mount(String at, RootFs fs) {
        mounts.add(Map.entry(RootFs.join(RootFs.split(at)), fs));
        mounts.sort(Comparator.comparingInt((Map.Entry<String, RootFs> e) -> e.getKey().length()).reversed());
        return this;
    }

    /** Resolves an enclave path to the host file to read, following links inside the owning root. */
    public Optional<RootFs.Resolved> resolve(String path) throws BundleException {
        String norm = normalize(path);
        for (Map.Entry<String, RootFs> m : mounts) {
            String at = m.getKey();
            if (at.equals("/") || norm.equals(at) || norm.startsWith(at + "/")) {
                String rel = at.equals("/") ? norm : norm.substring(at.length());
                Optional<RootFs.Resolved> r = m.getValue().resolve(rel.isEmpty() ? "/" : rel);
                if (r.isEmpty()) {
                    return r;
                }
                String inside = r.get().path();
                String enclave = at.equals("/") ? inside : (inside.equals("/") ? at : at + inside);
                return Optional.of(new RootFs.Resolved(enclave, r.get().hostPath()));
            }
        }
        return Optional.empty();
    }

    /** Like {@link #resolve} but a missing file is an error naming {@code what}. */
    public RootFs.Resolved require(String path, String what) throws BundleException {
        return resolve(path).orElseThrow(() -> BundleException.badInput(what + " " + path + " does not exist"));
    }

    /**
     * Lists every regular file under {@code path} (a file or a directory), keyed by the enclave path through
     * which it is reached; links to directories are followed, a directory reached again through its own
     * descendants is a loop and an error.
     */
    public void walk(String path, Map<String, Path> out) throws BundleException {
        RootFs.Resolved r = require(path, "included path");
        walk(normalize(path), r, new HashSet<>(), out);
    }

    private void walk(String at, RootFs.Resolved r, Set<Path> stack, Map<String, Path> out) throws BundleException {
        Path h = r.hostPath();
        if (Files.isRegularFile(h, LinkOption.NOFOLLOW_LINKS)) {
            out.put(at, h);
            return;
        }
        if (!Files.isDirectory(h, LinkOption.NOFOLLOW_LINKS)) {
            return; // devices, sockets and FIFOs have no content to measure
        }
        Path real;
        try {
            real = h.toRealPath();
        } catch (IOException e) {
            throw BundleException.badInput("cannot read directory " + at + ": " + e.getMessage());
        }
        if (!stack.add(real)) {
            throw BundleException.badInput("symlink loop: directory " + at + " contains itself");
        }
        List<String> names = new ArrayList<>();
        try (Stream<Path> s = Files.list(h)) {
            s.forEach(p -> names.add(p.getFileName().toString()));
        } catch (IOException e) {
            throw BundleException.badInput("cannot list directory " + at + ": " + e.getMessage());
        }
        names.sort(null);
        for (String n : names) {
            String child = at.equals("/") ? "/" + n : at + "/" + n;
            Optional<RootFs.Resolved> c = resolve(child);
            if (c.isPresent()) {
                walk(child, c.get(), stack, out);
            }
        }
        stack.remove(real);
    }

    /** Lexical normalisation of an absolute path ({@code .}, {@code ..}, repeated slashes). */
    static String normalize(String path) {
        List<String> out = new ArrayList<>();
        for (String c : RootFs.split(path)) {
            if (c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                if (!out.isEmpty()) {
                    out.removeLast();
                }
                continue;
            }
            out.add(c);
        }
        return RootFs.join(out);
    }
}
