package dev.cloister.bundle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Symbolic links resolved inside a root: relative, absolute (chroot semantics), escapes and loops. */
class RootFsTest {
    @TempDir
    Path tmp;

    @Test
    void resolvesLinksInsideTheRoot() throws Exception {
        Files.createDirectories(tmp.resolve("usr/lib/x"));
        Files.writeString(tmp.resolve("usr/lib/x/libz.so.1.3"), "z");
        Files.createSymbolicLink(tmp.resolve("lib"), Path.of("usr/lib"));
        Files.createSymbolicLink(tmp.resolve("usr/lib/x/libz.so.1"), Path.of("libz.so.1.3"));
        Files.createSymbolicLink(tmp.resolve("abs"), Path.of("/usr/lib/x/libz.so.1"));
        RootFs chroot = RootFs.confined(tmp, true, "image");
        assertThat(chroot.resolve("/lib/x/libz.so.1").orElseThrow().path()).isEqualTo("/usr/lib/x/libz.so.1.3");
        assertThat(chroot.resolve("/abs").orElseThrow().hostPath()).isEqualTo(tmp.resolve("usr/lib/x/libz.so.1.3"));
        assertThat(chroot.resolve("/lib/x/../x/./libz.so.1").orElseThrow().path()).isEqualTo("/usr/lib/x/libz.so.1.3");
        assertThat(chroot.resolve("/nope")).isEmpty();
        assertThat(chroot.resolve("/usr/lib/x/libz.so.1.3/more")).isEmpty();
        RootFs dir = RootFs.confined(tmp, false, "--dir app");
        assertThatThrownBy(() -> dir.resolve("/abs")).isInstanceOf(BundleException.class)
                .hasMessageContaining("symlink /abs").hasMessageContaining("outside");
    }

    @Test
    void rejectsEscapesAndLoops() throws Exception {
        Files.createSymbolicLink(tmp.resolve("up"), Path.of("../../etc/passwd"));
        Files.createSymbolicLink(tmp.resolve("a"), Path.of("b"));
        Files.createSymbolicLink(tmp.resolve("b"), Path.of("a"));
        Files.createDirectories(tmp.resolve("d"));
        Files.createSymbolicLink(tmp.resolve("d/self"), Path.of("../d"));
        RootFs fs = RootFs.confined(tmp, true, "image");
        assertThatThrownBy(() -> fs.resolve("/up")).hasMessageContaining("symlink /up").hasMessageContaining("outside");
        assertThatThrownBy(() -> fs.resolve("/../etc")).hasMessageContaining("escapes");
        assertThatThrownBy(() -> fs.resolve("/a")).hasMessageContaining("symlink loop");
        // A directory that contains itself through a link is a loop when walking.
        Namespace ns = new Namespace(fs);
        assertThatThrownBy(() -> ns.walk("/d", new TreeMap<>())).hasMessageContaining("loop");
        // The host root clamps '..' at the top, as the kernel does.
        assertThat(RootFs.hostRoot().resolve("/../../usr/bin/sqlite3")).isPresent();
    }
}
