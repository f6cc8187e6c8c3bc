using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 11: Debian ansible's community.general.lxd inventory plugin, pointed at the daemon's unix
/// socket, lists the running containers with their addresses (it starts from GET /1.0/networks).
/// </summary>
[Collection(NetworkDaemonCollection.Name)]
public sealed class AnsibleInventoryTests(NetworkDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    [Fact]
    public async Task The_lxd_inventory_plugin_lists_the_running_containers_with_their_addresses()
    {
        var dir = Repo.TempDir("hlx-ansible-");
        try
        {
            // On lxdbr0 through the default profile's eth0, as `hyperlxd init --auto` made it.
            await fixture.LxcOkAsync("launch", "busybox", "an-a");
            await fixture.LxcOkAsync("launch", "busybox", "an-b");
            await fixture.LxcOkAsync("init", "busybox", "an-off");
            var a = await NetworkDaemon.WaitForIpv4Async(D, "an-a");
            var b = await NetworkDaemon.WaitForIpv4Async(D, "an-b");

            var inventory = Path.Combine(dir, "hyperlxd.lxd.yml");
            await File.WriteAllTextAsync(inventory, $"""
                plugin: community.general.lxd
                url: unix:{D.Socket}
                state: RUNNING
                """);
            var env = new Dictionary<string, string>
            {
                ["HOME"] = dir,
                ["ANSIBLE_LOCAL_TEMP"] = Path.Combine(dir, "tmp"),
                ["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "true",
                ["ANSIBLE_INVENTORY_ENABLED"] = "community.general.lxd",
            };
            var r = await D.RunInNetnsAsync("ansible-inventory", ["-i", inventory, "--list"], env);
            Assert.True(r.ExitCode == 0, r.ToString());
            var hostvars = JsonDocument.Parse(r.Stdout).RootElement.GetProperty("_meta").GetProperty("hostvars");
            foreach (var (name, ip) in new[] { ("an-a", a), ("an-b", b) })
            {
                Assert.True(hostvars.TryGetProperty(name, out var vars), r.Stdout);
                Assert.Equal(ip, vars.GetProperty("ansible_host").GetString());
                Assert.Equal("running", vars.GetProperty("ansible_lxd_state").GetString());
            }
            Assert.False(hostvars.TryGetProperty("an-off", out _), r.Stdout);
        }
        finally
        {
            foreach (var n in new[] { "an-a", "an-b", "an-off" })
            {
                await D.LxcAsync("delete", "--force", n);
            }
            Directory.Delete(dir, true);
        }
    }
}
