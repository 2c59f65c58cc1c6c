package dev.cloister.kbs;

import java.util.regex.Pattern;

/**
 * The name rules of the broker, in one place: namespaces and secrets. Names appear in paths ({@code NS/NAME}), URLs
 * and file names of owners' tools, so {@code ..} is refused in both.
 */
public final class KbsNames {
    private static final Pattern NAMESPACE = Pattern.compile("[a-z0-9][a-z0-9._-]{0,63}");
    private static final Pattern SECRET = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    private KbsNames() {}

    /** Checks a namespace name: lower-case letters, digits, {@code . _ -}, no {@code ..}, at most 64. */
    public static String checkNamespace(String ns) throws KbsException {
        if (ns == null || !NAMESPACE.matcher(ns).matches() || ns.contains("..")) {
            throw KbsException.badRequest("bad namespace name '" + ns + "' (lower-case letters, digits, . _ -, "
                    + "starting with a letter or digit, no '..'; at most 64)");
        }
        return ns;
    }

    /** Checks a secret name: letters, digits, {@code . _ -}, no {@code ..}, at most 128. */
    public static String checkSecretName(String name) throws KbsException {
        if (name == null || !SECRET.matcher(name).matches() || name.contains("..")) {
            throw KbsException.badRequest("bad secret name '" + name + "' (letters, digits, . _ -, starting with a "
                    + "letter or digit, no '..'; at most 128)");
        }
        return name;
    }
}
