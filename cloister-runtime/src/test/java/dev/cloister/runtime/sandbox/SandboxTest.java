package dev.cloister.runtime.sandbox;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Both sandboxes, for real: what the process inside can and cannot see. */
class SandboxTest {
    @TempDir Path tmp;

    static Stream<Sandbox> sandboxes() {
        return Stream.of(new Bubblewrap(), new UnshareSandbox());
    }

    record Result(int exit, String out, String err) {}

    static Result run(Sandbox sb, SandboxSpec spec) throws IOException, InterruptedException {
        Process p = sb.start(spec, ProcessBuilder.Redirect.PIPE, ProcessBuilder.Redirect.PIPE);
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return new Result(p.exitValue(), out, err);
    }

    static void assumeUsable(Sandbox sb) {
        String problem = sb instanceof Bubblewrap ? Bubblewrap.probe() : UnshareSandbox.probe();
        assumeTrue(problem == null, () -> sb.name() + " unusable here: " + problem);
    }

    @ParameterizedTest
    @MethodSource("sandboxes")
    void seesOnlyWhatIsBound(Sandbox sb) throws Exception {
        assumeUsable(sb);
        Path data = Files.createDirectories(tmp.resolve("data"));
        Files.writeString(data.resolve("in.txt"), "hello");
        Path secret = tmp.resolve("secret.txt");
        Files.writeString(secret, "host secret");
        String script = String.join("; ",
                "cat /data/in.txt",
                "echo",
                "test ! -e " + secret + " && echo no-secret",
                "test ! -e /etc/passwd && echo no-etc",
                "echo out > /work/o.txt && cat /work/o.txt",
                "(echo x > /data/new.txt) 2>/dev/null || echo data-readonly",
                "echo $HOME-$CLOISTER_T",
                "pwd");
        SandboxSpec spec = SandboxSpec.builder(List.of("/usr/bin/sh", "-c", script))
                .usrMergeLinks()
                .readOnly(Path.of("/usr"), "/usr")
                .readOnly(data, "/data")
                .tmpfs("/work")
                .workDir("/work")
                .env("CLOISTER_T", "t1")
                .build();
        Result r = run(sb, spec);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().lines().toList()).containsExactly(
                "hello", "no-secret", "no-etc", "out", "data-readonly", "-t1", "/work");
    }

    @ParameterizedTest
    @MethodSource("sandboxes")
    void hasNoNetworkButItsOwnLoopback(Sandbox sb) throws Exception {
        assumeUsable(sb);
        SandboxSpec spec = SandboxSpec.builder(List.of("/usr/bin/sh", "-c", "cat /proc/net/dev | tail -n +3 | cut -d: -f1"))
                .usrMergeLinks().readOnly(Path.of("/usr"), "/usr").build();
        Result r = run(sb, spec);
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(r.out().strip().lines().map(String::strip).toList()).containsExactly("lo");
    }

    @ParameterizedTest
    @MethodSource("sandboxes")
    void passesTheExitCodeThrough(Sandbox sb) throws Exception {
        assumeUsable(sb);
        SandboxSpec spec = SandboxSpec.builder(List.of("/usr/bin/sh", "-c", "exit 7"))
                .usrMergeLinks().readOnly(Path.of("/usr"), "/usr").build();
        assertThat(run(sb, spec).exit()).isEqualTo(7);
    }

    @Test
    void detectionPrefersBubblewrapAndExplainsFallback() throws Exception {
        Sandbox.Detection d = Sandbox.detect();
        if (Bubblewrap.probe() == null) {
            assertThat(d.sandbox()).isInstanceOf(Bubblewrap.class);
        } else {
            assertThat(d.sandbox()).isInstanceOf(UnshareSandbox.class);
            assertThat(d.note()).contains("using util-linux unshare instead");
        }
    }
}
