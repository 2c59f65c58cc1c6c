/** The Cloister key broker: stores secrets, releases them to attested workloads by policy, and audits everything. */
package dev.cloister.kbs;
