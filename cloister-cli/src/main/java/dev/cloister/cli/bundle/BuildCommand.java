package dev.cloister.cli.bundle;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.cloister.bundle.BuildOptions;
import dev.cloister.bundle.BundleBuilder;
import dev.cloister.cli.Json;
import dev.cloister.cli.Progress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code cloister build}: packages an unmodified program into a reproducible Gramine enclave bundle. */
@Command(
        name = "build",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        sortOptions = false,
        header = "Package an unmodified program into a reproducible Gramine enclave bundle.",
        description = {
            "Finds every file the program loads (ELF interpreter, DT_NEEDED libraries through DT_RPATH, "
                    + "DT_RUNPATH with $ORIGIN, /etc/ld.so.cache and the default directories; #! interpreters), "
                    + "copies them under BUNDLE/root, hashes them on all cores, and writes a canonical Gramine 1.9 "
                    + "manifest (BUNDLE/entrypoint.manifest) and BUNDLE/cloister.json with the bundle's "
                    + "measurement.",
            "",
            "The same inputs give a byte-identical bundle on any machine at any time. Nothing is written unless "
                    + "the build succeeds; OUT must not exist.",
            "",
            "Data the program reads but the loader does not know about (a Python standard library, a JRE's "
                    + "lib/) must be named with --include."
        },
        footerHeading = "%nExamples:%n",
        footer = {
            "  cloister build --binary /usr/bin/sqlite3 --arg :memory: --arg 'select 1;' --out sq.bundle",
            "  cloister build --binary /usr/bin/redis-server --out redis.bundle -- --dir /data --port 7000",
            "  cloister build --dir app/ --entrypoint main.py --include /usr/lib/python3.11 --out py.bundle",
            "  cloister build --image app.tar --out app.bundle --check-reproducible --json",
            "",
            "Exit status: 0 built, 3 bad input (missing entrypoint or library, non-ELF program, path escaping "
                    + "its root, symlink loop, output exists), 4 environment."
        })
public final class BuildCommand implements Callable<Integer> {

    static final class Source {
        @Option(names = "--binary", paramLabel = "PATH",
                description = "A program on this machine; it is bundled at its absolute path with its libraries.")
        Path binary;

        @Option(names = "--dir", paramLabel = "DIR",
                description = "An application directory, bundled at --mount (default /app); needs --entrypoint. "
                        + "Links in it must stay inside it.")
        Path dir;

        @Option(names = "--image", paramLabel = "TARBALL",
                description = "An OCI image layout or 'docker save' tarball; layers are applied in order with "
                        + "whiteouts, and Entrypoint, Cmd, Env and WorkingDir come from its configuration. "
                        + "No Docker daemon is used.")
        Path image;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--entrypoint", paramLabel = "REL",
            description = "With --dir: the program to start, relative to the directory (an ELF program or a #! "
                    + "script).")
    String entrypoint;

    @Option(names = "--mount", paramLabel = "PATH", defaultValue = "/app",
            description = "With --dir: where the directory appears in the enclave. Default: ${DEFAULT-VALUE}.")
    String mount;

    @Option(names = "--include", paramLabel = "PATH",
            description = "Also bundle this file or directory tree (absolute path; repeatable). ELF files in it "
                    + "bring their libraries.")
    List<String> includes = new ArrayList<>();

    @Option(names = "--arg", paramLabel = "ARG", parameterConsumer = Verbatim.class,
            description = "An argument for the program, fixed in the manifest (repeatable, in order). Taken as "
                    + "it is, even when it looks like an option of this command: --arg=--dir or --arg --dir.")
    List<String> args = new ArrayList<>();

    @Parameters(paramLabel = "PROGRAM_ARG", arity = "0..*",
            description = "After '--': more arguments for the program, after the --arg ones, taken as they are "
                    + "(for programs whose flags share names with this command's: -- --dir /data --port 7000).")
    List<String> trailing = new ArrayList<>();

    /**
     * Takes the next argument as --arg's value whatever it looks like. picocli would refuse a value that is also
     * an option name here (redis-server's {@code --dir}), and a program's arguments are the program's business.
     */
    static final class Verbatim implements CommandLine.IParameterConsumer {
        @Override
        public void consumeParameters(java.util.Stack<String> stack, CommandLine.Model.ArgSpec argSpec,
                CommandSpec commandSpec) {
            if (stack.isEmpty()) {
                throw new ParameterException(commandSpec.commandLine(), "Missing required parameter for option "
                        + "'--arg' (ARG)");
            }
            List<String> list = argSpec.getValue();
            list.add(stack.pop());
        }
    }

    @Option(names = "--env", paramLabel = "NAME=VALUE",
            description = "A fixed environment variable (repeatable); overrides the defaults and the image's.")
    Map<String, String> env = new LinkedHashMap<>();

    @Option(names = "--allow", paramLabel = "URI",
            description = "An sgx.allowed_files entry, e.g. file:/etc/resolv.conf (unverified; repeatable).")
    List<String> allowed = new ArrayList<>();

    @Option(names = "--name", paramLabel = "NAME", defaultValue = "bundle", description = "Bundle name. Default: ${DEFAULT-VALUE}.")
    String name;

    @Option(names = "--bundle-version", paramLabel = "VERSION", defaultValue = "0.0.0",
            description = "Bundle version. Default: ${DEFAULT-VALUE}.")
    String version;

    @Option(names = "--enclave-size", paramLabel = "SIZE", defaultValue = "1G",
            description = "sgx.enclave_size, like 512M or 4G. Default: ${DEFAULT-VALUE}.")
    String enclaveSize;

    @Option(names = "--max-threads", paramLabel = "N", defaultValue = "8",
            description = "sgx.max_threads (at least 4). Default: ${DEFAULT-VALUE}.")
    int maxThreads;

    @Option(names = "--isvprodid", paramLabel = "N", defaultValue = "0",
            description = "sgx.isvprodid (0..65535). Default: ${DEFAULT-VALUE}.")
    int isvProdId;

    @Option(names = "--isvsvn", paramLabel = "N", defaultValue = "0",
            description = "sgx.isvsvn, the security version (0..65535). Default: ${DEFAULT-VALUE}.")
    int isvSvn;

    @Option(names = "--broker-ca", paramLabel = "PEM",
            description = "The Cloister key broker's CA certificate. When given, the enclave obtains its "
                    + "encrypted-files key from the broker at start (Gramine secret provisioning over RA-TLS); the "
                    + "certificate becomes a trusted file.")
    Path brokerCa;

    @Option(names = "--broker", paramLabel = "HOST:PORT",
            description = "The key broker's address, fixed in the manifest. Without it the worker supplies "
                    + "SECRET_PROVISION_SERVERS at start (safe: the broker is authenticated by --broker-ca).")
    String broker;

    @Option(names = "--gramine-lib", paramLabel = "DIR", defaultValue = BuildOptions.DEFAULT_GRAMINE_LIB,
            description = "Gramine's library directory on the SGX host (for loader.entrypoint and the "
                    + "secret-provisioning library). Default: ${DEFAULT-VALUE}.")
    String gramineLib;

    @Option(names = "--gramine", paramLabel = "DIR",
            description = "A Gramine 1.9 installation on this machine: its library directory (holding sgx/libpal.so, "
                    + "libsysdb.so and runtime/glibc/, e.g. /usr/lib/x86_64-linux-gnu/gramine) or its prefix (e.g. "
                    + "/usr). The build then pins libsysdb.so's SHA-256 in the manifest, writes "
                    + "entrypoint.manifest.sgx as gramine-sgx-sign would, and records Gramine's MRENCLAVE for that "
                    + "libpal.so in cloister.json; 'bundle sign' then signs MRENCLAVE. The installation must be the "
                    + "one the SGX host runs (--gramine-lib names where it lives there). --enclave-size must be a "
                    + "power of two.")
    Path gramine;

    @Option(names = {"-o", "--out"}, paramLabel = "BUNDLE", required = true,
            description = "The bundle directory to create; it must not exist.")
    Path out;

    @Option(names = "--check-reproducible",
            description = "Build twice in separate temporary folders and fail unless both are byte-identical.")
    boolean checkReproducible;

    @Option(names = "--threads", paramLabel = "N",
            description = "Hashing threads. Default: all cores.")
    Integer threads;

    @Option(names = "--json", description = "Print the result as one JSON object: bundle, measurement, "
            + "treeDigest, files, bytes, reproducible, mrenclave (null without --gramine).")
    boolean json;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (source.dir != null && entrypoint == null) {
            throw new ParameterException(spec.commandLine(), "--dir needs --entrypoint");
        }
        if (source.dir == null && entrypoint != null) {
            throw new ParameterException(spec.commandLine(), "--entrypoint is only for --dir");
        }
        if (isvProdId < 0 || isvProdId > 0xffff || isvSvn < 0 || isvSvn > 0xffff) {
            throw new ParameterException(spec.commandLine(), "--isvprodid and --isvsvn must be 0..65535");
        }
        if (!trailing.isEmpty() && !spec.commandLine().getParseResult().originalArgs().contains("--")) {
            // without "--" a stray word would silently become the program's argument
            throw new ParameterException(spec.commandLine(), "unexpected argument '" + trailing.get(0)
                    + "': the program's arguments go after '--' (or in --arg)");
        }
        List<String> programArgs = new ArrayList<>(args);
        programArgs.addAll(trailing);
        int t = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        if (t < 1) {
            throw new ParameterException(spec.commandLine(), "--threads must be at least 1");
        }
        BuildOptions o = new BuildOptions(name, version, Optional.ofNullable(source.binary),
                Optional.ofNullable(source.dir), mount, Optional.ofNullable(entrypoint),
                Optional.ofNullable(source.image), includes, programArgs, env, allowed, enclaveSize, maxThreads,
                isvProdId,
                isvSvn, Optional.ofNullable(brokerCa), Optional.ofNullable(broker), gramineLib, t,
                Optional.ofNullable(gramine));
        BundleBuilder.Result r;
        // The total is known only once the files are found, so the bar is made on the first report.
        AtomicReference<Progress> bar = new AtomicReference<>();
        int passes = checkReproducible ? 2 : 1;
        try {
            r = BundleBuilder.build(o, out, checkReproducible, (total, done) -> {
                Progress p = bar.get();
                if (p == null) {
                    bar.compareAndSet(null, Progress.bytes("copy+hash", total * passes, json));
                    p = bar.get();
                }
                p.advance(done);
            });
        } finally {
            if (bar.get() != null) {
                bar.get().close();
            }
        }
        var w = spec.commandLine().getOut();
        if (json) {
            ObjectNode n = Json.object();
            n.put("bundle", r.dir().toString());
            n.put("measurement", r.measurement());
            n.put("treeDigest", r.treeDigest());
            n.put("files", r.fileCount());
            n.put("bytes", r.totalSize());
            n.put("reproducible", checkReproducible);
            n.put("mrenclave", r.mrenclave().orElse(null));
            Json.print(w, n);
        } else {
            w.println("built " + r.dir() + ": " + r.fileCount() + " files, " + r.totalSize() + " bytes");
            w.println("measurement " + r.measurement());
            r.mrenclave().ifPresent(m -> w.println("mrenclave   " + m + " (Gramine)"));
            w.println("tree digest " + r.treeDigest() + (checkReproducible ? " (reproduced)" : ""));
            w.flush();
        }
        return 0;
    }
}
