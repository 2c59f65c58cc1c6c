package dev.cloister.bundle;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

/**
 * A host directory seen as a file system root, with symbolic links resolved inside it component by component,
 * the way a process chrooted there would see them. This is what lets a bundle be built from a directory or an
 * unpacked image without ever reading a file outside it.
 *
 * <p>Two policies: the host root {@code /} (where {@code ..} at the top stays at the top, as in the kernel), and a
 * confined root where a link that would leave the root ({@code ..} past the top, or an absolute target when
 * absolute links are not allowed) is an error naming the link. More than {@value #MAX_LINKS} links in one
 * lookup is reported as a loop, as the kernel's ELOOP does.
 *
 * @param host            the directory that plays the root
 * @param confined        whether leaving the root is an error (otherwise {@code ..} at the top is clamped)
 * @param absoluteLinks   whether absolute link targets are resolved against the root (chroot semantics) or
 *                        rejected as escapes
 * @param label           how errors name this root ({@code --dir app/})
 */
public record RootFs(Path host, boolean confined, boolean absoluteLinks, String label) {

    /** The kernel's limit on symbolic links followed in one lookup (Linux uses 40). */
    public static final int MAX_LINKS = 40;

    /** The machine's own root. */
    public static RootFs hostRoot() {
        return new RootFs(Path.of("/"), false, true, "/");
    }

    /** A confined root: nothing outside {@code dir} is ever reached. */
    public static RootFs confined(Path dir, boolean absoluteLinks, String label) {
        return new RootFs(dir.toAbsolutePath().normalize(), true, absoluteLinks, label);
    }

    /** A resolved file: its canonical path inside the root and the host path to read. */
    public record Resolved(String path, Path hostPath) {}

    /**
     * Resolves {@code path} (absolute, inside this root), following every symbolic link.
     *
     * @return the resolved file, or empty if some component does not exist
     * @throws BundleException if a link escapes the root or the links form a loop
     */
    public Optional<Resolved> resolve(String path) throws BundleException {
        if (!path.startsWith("/")) {
            throw BundleException.badInput("path " + path + " in " + label + " is not absolute");
        }
        Deque<String> todo = new ArrayDeque<>(split(path));
        List<String> cur = new ArrayList<>();
        int links = 0;
        while (!todo.isEmpty()) {
            String c = todo.pollFirst();
            if (c.equals(".")) {
                continue;
            }
            if (c.equals("..")) {
                if (cur.isEmpty()) {
                    if (confined) {
                        throw BundleException.badInput("path " + path + " escapes " + label + " through '..'");
                    }
                    continue;
                }
                cur.removeLast();
                continue;
            }
            cur.add(c);
            Path h = hostPath(cur);
            if (Files.isSymbolicLink(h)) {
                if (++links > MAX_LINKS) {
                    throw BundleException.badInput("symlink loop resolving " + path + " in " + label + " (more than "
                            + MAX_LINKS + " links, last " + join(cur) + ")");
                }
                String target;
                try {
                    target = Files.readSymbolicLink(h).toString();
                } catch (IOException e) {
                    throw BundleException.badInput("cannot read symlink " + join(cur) + " in " + label + ": " + e);
                }
                String linkName = join(cur);
                cur.removeLast();
                if (target.startsWith("/")) {
                    if (!absoluteLinks) {
                        throw BundleException.badInput("symlink " + linkName + " in " + label + " points to "
                                + target + ", outside it");
                    }
                    cur.clear();
                }
                List<String> t = split(target);
                for (int i = t.size() - 1; i >= 0; i--) {
                    todo.addFirst(t.get(i));
                }
                if (confined && escapes(cur.size(), t)) {
                    throw BundleException.badInput("symlink " + linkName + " in " + label + " points to " + target
                            + ", outside it");
                }
                continue;
            }
            if (!Files.exists(h, LinkOption.NOFOLLOW_LINKS)) {
                return Optional.empty();
            }
            if (!todo.isEmpty() && !Files.isDirectory(h, LinkOption.NOFOLLOW_LINKS)) {
                return Optional.empty();
            }
        }
        return Optional.of(new Resolved(join(cur), hostPath(cur)));
    }

    /** Like {@link #resolve} but a missing file is an error naming {@code what}. */
    public Resolved require(String path, String what) throws BundleException {
        return resolve(path).orElseThrow(
                () -> BundleException.badInput(what + " " + path + " does not exist in " + label));
    }

    private static boolean escapes(int depth, List<String> target) {
        int d = depth;
        for (String c : target) {
            if (c.equals("..")) {
                if (--d < 0) {
                    return true;
                }
            } else if (!c.equals(".")) {
                d++;
            }
        }
        return false;
    }

    private Path hostPath(List<String> comps) {
        Path p = host;
        for (String c : comps) {
            p = p.resolve(c);
        }
        return p;
    }

    static List<String> split(String p) {
        List<String> out = new ArrayList<>();
        for (String s : p.split("/")) {
            if (!s.isEmpty()) {
                out.add(s);
            }
        }
        return out;
    }

    static String join(List<String> comps) {
        return comps.isEmpty() ? "/" : "/" + String.join("/", comps);
    }
}
