package dev.cloister.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Runs the real command in a separate JVM, as a user or script would, and checks the exit-code conventions. */
class CliConventionsTest {

    /** The outcome of one run of the command. */
    record Run(int exit, String out, String err) {}

    static Run cloister(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Cloister.class.getName());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .start();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    @Test
    void unknownOptionIsAUsageErrorWithOneClearLine() throws Exception {
        Run r = cloister("--no-such-option");
        assertThat(r.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("cloister: Unknown option: '--no-such-option'").contains("--help");
        assertThat(r.err()).doesNotContain("Exception").doesNotContain("\tat ");
    }

    @Test
    void aRunThatNamesASubcommandBuildsOnlyThatOne() {
        assertThat(Cloister.commandLine("pf", "encrypt", "--help").getSubcommands()).containsOnlyKeys("pf");
        assertThat(Cloister.commandLine("-v", "kbs", "serve").getSubcommands()).containsOnlyKeys("kbs");
        // Help, a mistyped name (for suggestions), no command and "--" get the whole tree.
        for (String[] args : List.of(new String[] {"help", "pf"}, new String[] {"pff"}, new String[] {},
                new String[] {"--", "pf"}, new String[] {"--help"})) {
            assertThat(Cloister.commandLine(args).getSubcommands())
                    .containsKeys("help", "build", "bundle", "pf", "job", "worker", "demo", "pipeline", "attest", "kbs");
        }
        // Every subcommand shares the top level's --verbose and --version, built alone or with the rest.
        assertThat(Cloister.commandLine("pf", "inspect").getSubcommands().get("pf").getCommandSpec()
                .findOption("--verbose")).isNotNull();
        assertThat(Cloister.commandLine("pf", "inspect").getSubcommands().get("pf").getSubcommands().get("inspect")
                .getCommandSpec().versionProvider()).isNotNull();
    }

    @Test
    void theClassCacheTrainingRunSucceedsInEveryStep() throws Exception {
        // ./cloister's class cache is made from this run: a failing step would silently leave its classes out.
        assertThat(WarmUp.train()).isEmpty();
    }

    @Test
    void misspelledSubcommandGetsASuggestion() throws Exception {
        Run r = cloister("pff", "encrypt");
        assertThat(r.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(r.err()).contains("Did you mean: cloister pf?");
    }

    @Test
    void anUnknownCommandWithHelpIsStillAUsageErrorNamingIt() throws Exception {
        for (String help : List.of("--help", "-h")) {
            Run r = cloister("no-such-command", help);
            assertThat(r.exit()).as(r.err()).isEqualTo(ExitCodes.USAGE);
            assertThat(r.out()).isEmpty();
            assertThat(r.err()).startsWith("cloister: unknown command 'no-such-command'\n").contains("--help");
        }
        // help for a real command is still help
        Run pf = cloister("pf", "--help");
        assertThat(pf.exit()).isZero();
        assertThat(pf.out()).contains("Usage: cloister pf");
    }

    @Test
    void theTopLevelHelpListsEveryExitStatus() throws Exception {
        Run r = cloister("--help");
        assertThat(r.exit()).isZero();
        assertThat(r.out()).contains("  4   environment problem").contains("a pipeline step that was killed")
                .contains("  5   a pipeline step's program failed");
    }

    @Test
    void unknownCommandIsAUsageError() throws Exception {
        Run r = cloister("frobnicate");
        assertThat(r.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(r.err()).contains("frobnicate");
    }

    @Test
    void noCommandIsAUsageError() throws Exception {
        Run r = cloister();
        assertThat(r.exit()).isEqualTo(ExitCodes.USAGE);
        assertThat(r.err()).contains("missing command");
    }

    @Test
    void helpDocumentsExitCodes() throws Exception {
        Run r = cloister("--help");
        assertThat(r.exit()).isEqualTo(ExitCodes.OK);
        assertThat(r.out()).contains("Usage: cloister").contains("Exit status").contains("70  internal error");
        Run h = cloister("help");
        assertThat(h.exit()).isEqualTo(ExitCodes.OK);
        assertThat(h.out()).isEqualTo(r.out());
    }

    @Test
    void versionNamesVersionAndCommit() throws Exception {
        Run r = cloister("--version");
        assertThat(r.exit()).isEqualTo(ExitCodes.OK);
        assertThat(r.out()).containsPattern("cloister \\d+\\.\\d+\\.\\d+\\S* \\(commit [0-9a-f]{7,}|unknown");
    }

    @Test
    void everySubcommandPrintsTheSameVersion() throws Exception {
        Run r = cloister("pf", "encrypt", "--version");
        assertThat(r.exit()).isEqualTo(ExitCodes.OK);
        assertThat(r.out()).startsWith("cloister ");
    }
}
