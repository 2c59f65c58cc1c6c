package dev.cloister.kbs;

import java.time.Instant;

/**
 * Metadata of one version of a secret (never its value).
 *
 * @param namespace owner namespace
 * @param name secret name
 * @param version 1, 2, ... (rotate adds one)
 * @param kind what the value is
 * @param active false once retired
 * @param created when this version was stored
 * @param retired when it was retired, or null
 */
public record SecretInfo(String namespace, String name, int version, SecretKind kind, boolean active,
        Instant created, Instant retired) {}
