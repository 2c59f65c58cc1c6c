package dev.cloister.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import picocli.CommandLine;

/** One in-process run of the {@code cloister} command line, as a test sees it. */
public record CliRun(int code, String out, String err) {
    /** Runs {@code cloister ARGS} in this JVM and captures its exit code, stdout and stderr. */
    public static CliRun of(String... args) {
        CommandLine cl = Cloister.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new CliRun(code, out.toString(), err.toString());
    }
}
