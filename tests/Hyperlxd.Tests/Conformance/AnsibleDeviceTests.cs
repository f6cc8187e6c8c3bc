using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14: Debian ansible's community.general.lxd_container adds a disk device to a running container
/// (it PUTs the instance with the new devices), and the container sees it without a restart.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class AnsibleDeviceTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    [Fact]
    public async Task Lxd_container_adds_a_disk_device_to_a_running_container()
    {
        var dir = Repo.TempDir("hlx-ansible-dev-");
        try
        {
            var source = Path.Combine(dir, "share");
            Directory.CreateDirectory(source);
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
            File.SetUnixFileMode(source, (UnixFileMode)0b111_101_101);
            await File.WriteAllTextAsync(Path.Combine(source, "hello.txt"), "hello-from-ansible\n");
            await using var c = await fixture.LaunchAsync("ans-dev");
            var pid = await fixture.InitPidAsync(c.Name);

            var playbook = Path.Combine(dir, "play.yml");
            await File.WriteAllTextAsync(playbook, $$"""
                - hosts: localhost
                  gather_facts: false
                  tasks:
                    - community.general.lxd_container:
                        name: {{c.Name}}
                        url: unix:{{D.Socket}}
                        state: started
                        devices:
                          share:
                            type: disk
                            source: {{source}}
                            path: /opt/share
                      register: result
                    - debug: var=result.actions
                """);
            var env = new Dictionary<string, string>
            {
                ["HOME"] = dir,
                ["ANSIBLE_LOCAL_TEMP"] = Path.Combine(dir, "tmp"),
                ["ANSIBLE_NOCOLOR"] = "1",
            };
            var r = await D.RunInNetnsAsync("ansible-playbook", ["-i", "localhost,", "-c", "local", playbook], env);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("apply_instance_configs", r.Stdout);
            Assert.Contains("changed=1", r.Stdout);

            // Hot-plugged: the same init (no restart), the file visible inside.
            Assert.Equal(pid, await fixture.InitPidAsync(c.Name));
            Assert.Equal("hello-from-ansible\n", await fixture.LxcOkAsync("exec", c.Name, "--", "cat", "/opt/share/hello.txt"));
            var devices = (await D.Api.GetAsync($"/1.0/instances/{c.Name}")).Metadata.GetProperty("devices");
            Assert.Equal("/opt/share", devices.GetProperty("share").GetProperty("path").GetString());

            // Run again: nothing to change.
            r = await D.RunInNetnsAsync("ansible-playbook", ["-i", "localhost,", "-c", "local", playbook], env);
            Assert.True(r.ExitCode == 0, r.ToString());
            Assert.Contains("changed=0", r.Stdout);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
