package dev.cloister.runtime.worker;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a worker needs to know about a bundle to run it: where its program root is, what it measures, and how its
 * manifest says to start it. Produced by opening (and verifying) a bundle folder.
 *
 * @param dir the bundle folder
 * @param root the program root, relative to {@code dir}
 * @param measurement the bundle measurement, hex
 * @param entrypoint the program, an absolute path inside the root
 * @param args the manifest's arguments, before the job's
 * @param env the manifest's environment, which the job's extends
 * @param workDir the working directory inside the root
 */
public record BundleView(Path dir, String root, String measurement, String entrypoint, List<String> args,
        Map<String, String> env, String workDir) {
    public BundleView {
        args = List.copyOf(args);
        env = Map.copyOf(env);
    }
}
