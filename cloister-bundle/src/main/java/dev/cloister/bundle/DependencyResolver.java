package dev.cloister.bundle;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Finds every file a program needs, the way glibc's dynamic loader would inside the bundle: the program
 * interpreter (PT_INTERP), then each DT_NEEDED library searched in DT_RPATH (only when there is no DT_RUNPATH),
 * DT_RUNPATH, {@code /etc/ld.so.cache} (or, without a cache, the directories of {@code /etc/ld.so.conf}), then
 * the default directories; {@code $ORIGIN} is the directory of the object that asks. {@code #!} scripts bring
 * their interpreter (and, for {@code /usr/bin/env NAME}, the program NAME found on the default PATH).
 *
 * <p>Files are recorded at the path the loader asks for (so the bundle needs no links), with the content of the
 * file that path resolves to. A library that cannot be found is an error naming the library and who needs it.
 */
public final class DependencyResolver {
    private static final List<String> DEFAULT_DIRS = List.of("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
            "/lib64", "/usr/lib64", "/lib", "/usr/lib");
    private static final List<String> DEFAULT_PATH = List.of("/usr/local/bin", "/usr/bin", "/bin");
    private static final int MAX_SHEBANG = 256;

    private final Namespace ns;
    private final Optional<LdSoCache> cache;
    private final List<String> confDirs;
    private final SortedMap<String, Path> files = new TreeMap<>();
    private final SortedMap<String, String> libraries = new TreeMap<>();
    private final LinkedHashSet<String> libraryDirs = new LinkedHashSet<>();
    private final Deque<Obj> work = new ArrayDeque<>();
    private ElfFile main;
    private ElfFile mainElf;
    private String mainPath;

    private record Obj(String path, ElfFile elf, String neededBy, boolean strict) {}

    /** What the program needs: its files, how to start it, and where its libraries are. */
    public record Result(SortedMap<String, Path> files, List<String> argvPrefix, String entrypoint,
            SortedMap<String, String> libraries, List<String> libraryDirs) {}

    public DependencyResolver(Namespace ns) throws BundleException {
        this.ns = ns;
        Optional<RootFs.Resolved> c = ns.resolve("/etc/ld.so.cache");
        LdSoCache parsed = null;
        if (c.isPresent()) {
            parsed = LdSoCache.parse(read(c.get().hostPath(), "/etc/ld.so.cache"), "/etc/ld.so.cache");
        }
        this.cache = Optional.ofNullable(parsed);
        this.confDirs = parsed == null ? readConf("/etc/ld.so.conf", 0) : List.of();
    }

    /**
     * Adds the program at enclave path {@code path} with everything it loads.
     *
     * @return the argv prefix that starts it: {@code [path]} for an ELF program, {@code [interpreter, arg?, path]}
     *         for a {@code #!} script
     */
    public List<String> addProgram(String path) throws BundleException {
        RootFs.Resolved r = ns.require(path, "entrypoint");
        if (!Files.isRegularFile(r.hostPath())) {
            throw BundleException.badInput("entrypoint " + path + " is not a regular file");
        }
        byte[] head = head(r.hostPath(), path);
        if (head.length >= 2 && head[0] == '#' && head[1] == '!') {
            files.put(Namespace.normalize(path), r.hostPath());
            List<String> shebang = shebang(head, path);
            String interp = shebang.getFirst();
            List<String> prefix = new ArrayList<>();
            if (interp.endsWith("/env") && shebang.size() == 2 && !shebang.get(1).startsWith("-")) {
                String prog = findOnPath(shebang.get(1), path);
                // The program env starts is the process image whose DT_RPATH the loader inherits: add it first.
                addElf(prog, "#! of " + path, true);
                addElf(interp, "#! of " + path, false);
                prefix.addAll(List.of(prog));
            } else {
                addElf(interp, "#! of " + path, true);
                prefix.addAll(shebang);
            }
            prefix.add(Namespace.normalize(path));
            drain();
            return prefix;
        }
        addElf(path, null, true);
        drain();
        return List.of(Namespace.normalize(path));
    }

    /** Adds a file or directory tree (data such as a Python standard library); ELF files in it bring their libraries. */
    public void addTree(String path) throws BundleException {
        addTree(path, true);
    }

    /**
     * Adds a tree.
     *
     * @param strict whether a library that an ELF file in the tree needs but that cannot be found is an error; an
     *               image's own tree is scanned leniently (everything in it is bundled anyway, and images often
     *               carry plugins whose optional libraries are absent), the program's closure never is
     */
    public void addTree(String path, boolean strict) throws BundleException {
        SortedMap<String, Path> found = new TreeMap<>();
        ns.walk(path, found);
        for (Map.Entry<String, Path> e : found.entrySet()) {
            files.put(e.getKey(), e.getValue());
            byte[] head = head(e.getValue(), e.getKey());
            if (ElfFile.isElf(head) && main != null) {
                ElfFile elf = ElfFile.parse(read(e.getValue(), e.getKey()), e.getKey());
                if (elf.compatibleWith(main) && (elf.type() == 3 || elf.type() == 2)) {
                    work.add(new Obj(e.getKey(), elf, null, strict));
                }
            }
        }
        drain();
    }

    /** The result so far. */
    public Result result(List<String> argvPrefix) {
        return new Result(new TreeMap<>(files), argvPrefix, argvPrefix.getFirst(), new TreeMap<>(libraries),
                List.copyOf(libraryDirs));
    }

    private void addElf(String path, String neededBy, boolean isMain) throws BundleException {
        RootFs.Resolved r = ns.require(path, neededBy == null ? "entrypoint" : "interpreter");
        byte[] bytes = read(r.hostPath(), path);
        if (!ElfFile.isElf(bytes)) {
            throw BundleException.badInput((neededBy == null ? "entrypoint " : "interpreter ") + path
                    + " is not an ELF file or a #! script");
        }
        ElfFile elf = ElfFile.parse(bytes, path);
        if (elf.type() != 2 && elf.type() != 3) {
            throw BundleException.badInput(path + " is not an executable (ELF type " + elf.type() + ")");
        }
        if (isMain) {
            main = elf;
            mainElf = elf;
            mainPath = Namespace.normalize(path);
        }
        String p = Namespace.normalize(path);
        files.put(p, r.hostPath());
        work.add(new Obj(p, elf, neededBy, true));
    }

    private void drain() throws BundleException {
        while (!work.isEmpty()) {
            Obj o = work.poll();
            if (o.elf().interpreter().isPresent()) {
                String interp = o.elf().interpreter().get();
                if (!files.containsKey(interp)) {
                    RootFs.Resolved r = ns.resolve(interp).orElseThrow(() -> BundleException.badInput(
                            "program interpreter " + interp + " of " + o.path() + " does not exist"));
                    files.put(Namespace.normalize(interp), r.hostPath());
                    libraries.put(interp, interp);
                }
            }
            for (String name : o.elf().needed()) {
                if (libraries.containsKey(name)) {
                    continue;
                }
                Lib lib;
                try {
                    lib = find(name, o);
                } catch (BundleException e) {
                    if (o.strict()) {
                        throw e;
                    }
                    continue;
                }
                libraries.put(name, lib.path());
                if (!files.containsKey(lib.path())) {
                    files.put(lib.path(), lib.host());
                    int slash = lib.path().lastIndexOf('/');
                    libraryDirs.add(slash == 0 ? "/" : lib.path().substring(0, slash));
                    work.add(new Obj(lib.path(), lib.elf(), o.path(), o.strict()));
                }
            }
        }
    }

    private record Lib(String path, Path host, ElfFile elf) {}

    private Lib find(String name, Obj o) throws BundleException {
        if (name.contains("/")) {
            Optional<Lib> l = candidate(expand(name, o.path()));
            if (l.isPresent()) {
                return l.get();
            }
            throw missing(name, o);
        }
        List<String> dirs = new ArrayList<>();
        if (o.elf().runpath().isEmpty()) {
            dirs.addAll(o.elf().rpath().stream().map(d -> expand(d, o.path())).toList());
            if (mainElf != null && mainElf.runpath().isEmpty() && mainElf != o.elf()) {
                dirs.addAll(mainElf.rpath().stream().map(d -> expand(d, mainPath)).toList());
            }
        }
        dirs.addAll(o.elf().runpath().stream().map(d -> expand(d, o.path())).toList());
        for (String d : dirs) {
            if (d == null) {
                continue;
            }
            Optional<Lib> l = candidate(d + "/" + name);
            if (l.isPresent()) {
                return l.get();
            }
        }
        if (cache.isPresent()) {
            for (String p : cache.get().lookup(name)) {
                Optional<Lib> l = candidate(p);
                if (l.isPresent()) {
                    return l.get();
                }
            }
        }
        for (String d : confDirs) {
            Optional<Lib> l = candidate(d + "/" + name);
            if (l.isPresent()) {
                return l.get();
            }
        }
        for (String d : DEFAULT_DIRS) {
            Optional<Lib> l = candidate(d + "/" + name);
            if (l.isPresent()) {
                return l.get();
            }
        }
        throw missing(name, o);
    }

    private static BundleException missing(String name, Obj o) {
        return BundleException.badInput("missing library " + name + " needed by " + o.path()
                + " (searched DT_RPATH/DT_RUNPATH, /etc/ld.so.cache and the default directories)");
    }

    /** A candidate path that exists, is ELF and matches the program's class and machine. */
    private Optional<Lib> candidate(String path) throws BundleException {
        if (path == null) {
            return Optional.empty();
        }
        String p = Namespace.normalize(path);
        Optional<RootFs.Resolved> r = ns.resolve(p);
        if (r.isEmpty() || !Files.isRegularFile(r.get().hostPath())) {
            return Optional.empty();
        }
        byte[] bytes = read(r.get().hostPath(), p);
        if (!ElfFile.isElf(bytes)) {
            return Optional.empty();
        }
        ElfFile elf = ElfFile.parse(bytes, p);
        if (main != null && !elf.compatibleWith(main)) {
            return Optional.empty();
        }
        return Optional.of(new Lib(p, r.get().hostPath(), elf));
    }

    /** Expands $ORIGIN; entries with other dynamic string tokens ($LIB, $PLATFORM) are skipped. */
    private static String expand(String entry, String objPath) {
        String origin = objPath.substring(0, Math.max(1, objPath.lastIndexOf('/')));
        String e = entry.replace("${ORIGIN}", origin).replace("$ORIGIN", origin);
        if (e.contains("$") || !e.startsWith("/")) {
            return null;
        }
        return e;
    }

    private String findOnPath(String prog, String script) throws BundleException {
        for (String d : DEFAULT_PATH) {
            Optional<RootFs.Resolved> r = ns.resolve(d + "/" + prog);
            if (r.isPresent() && Files.isRegularFile(r.get().hostPath())) {
                return d + "/" + prog;
            }
        }
        throw BundleException.badInput("interpreter " + prog + " named by the #! line of " + script
                + " is not on " + String.join(":", DEFAULT_PATH));
    }

    private static List<String> shebang(byte[] head, String path) throws BundleException {
        int end = 2;
        while (end < head.length && head[end] != '\n') {
            end++;
        }
        if (end == head.length && head.length >= MAX_SHEBANG) {
            throw BundleException.badInput("#! line of " + path + " is longer than " + MAX_SHEBANG + " bytes");
        }
        String line = new String(head, 2, end - 2, StandardCharsets.UTF_8).strip();
        if (line.isEmpty() || !line.startsWith("/")) {
            throw BundleException.badInput("#! line of " + path + " does not name an absolute interpreter");
        }
        // As Linux does: the interpreter, then at most one argument (the rest of the line).
        int sp = indexOfSpace(line);
        if (sp < 0) {
            return List.of(line);
        }
        return List.of(line.substring(0, sp), line.substring(sp).strip());
    }

    private static int indexOfSpace(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == ' ' || s.charAt(i) == '\t') {
                return i;
            }
        }
        return -1;
    }

    private List<String> readConf(String path, int depth) throws BundleException {
        List<String> out = new ArrayList<>();
        if (depth > 8) {
            return out;
        }
        Optional<RootFs.Resolved> r = ns.resolve(path);
        if (r.isEmpty() || !Files.isRegularFile(r.get().hostPath())) {
            return out;
        }
        String text = new String(read(r.get().hostPath(), path), StandardCharsets.UTF_8);
        for (String raw : text.split("\n")) {
            String line = raw.replaceAll("#.*", "").strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("include ") || line.startsWith("include\t")) {
                String pat = line.substring(8).strip();
                int slash = pat.lastIndexOf('/');
                String dir = slash <= 0 ? "/etc" : pat.substring(0, slash);
                String glob = pat.substring(slash + 1);
                Optional<RootFs.Resolved> d = ns.resolve(dir);
                if (d.isEmpty() || !Files.isDirectory(d.get().hostPath())) {
                    continue;
                }
                var matcher = d.get().hostPath().getFileSystem().getPathMatcher("glob:" + glob);
                List<String> names = new ArrayList<>();
                try (var s = Files.list(d.get().hostPath())) {
                    s.map(p -> p.getFileName()).filter(matcher::matches).forEach(p -> names.add(p.toString()));
                } catch (IOException e) {
                    throw BundleException.badInput("cannot list " + dir + ": " + e.getMessage());
                }
                names.sort(null);
                for (String n : names) {
                    out.addAll(readConf(dir + "/" + n, depth + 1));
                }
            } else if (line.startsWith("/")) {
                out.add(line);
            }
        }
        return out;
    }

    private static byte[] head(Path p, String name) throws BundleException {
        try (InputStream in = Files.newInputStream(p)) {
            return in.readNBytes(MAX_SHEBANG);
        } catch (IOException e) {
            throw BundleException.badInput("cannot read " + name + ": " + e.getMessage());
        }
    }

    static byte[] read(Path p, String name) throws BundleException {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw BundleException.badInput("cannot read " + name + ": " + e.getMessage());
        }
    }
}
