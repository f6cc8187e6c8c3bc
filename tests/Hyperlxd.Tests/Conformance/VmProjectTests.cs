using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14: a virtual machine in a non-default project with the stock lxc 5.0.2 client — launched, exec'd
/// into, listed per project and with --all-projects, stopped, snapshotted, copied and deleted; counted
/// against limits.virtual-machines; stored under the project's key; its libvirt domain apart from a VM
/// of the same name in the default project (both run at once).
/// </summary>
public sealed class VmProjectTests(VmDaemon fixture) : IClassFixture<VmDaemon>
{
    private const string Project = "pvm";

    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => VmDaemon.LxcOkAsync(D, args);

    private Task<string> LxcFailsAsync(params string[] args) => D.LxcFailsAsync(args);

    /// <summary>Polls `lxc exec NAME --project P -- true` until the guest agent answers (a hang guard, not a timing).</summary>
    private async Task WaitForAgentAsync(string name, string project)
    {
        var deadline = DateTime.UtcNow + VmDaemon.AgentPatience;
        ProcessResult last;
        do
        {
            last = await D.LxcAsync("exec", name, "--project", project, "--", "true");
            if (last.ExitCode == 0)
            {
                return;
            }
            await Task.Delay(250);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Fail($"the guest agent of {name} in {project} did not answer: {last}\n{await D.LxcAsync("info", name, "--project", project, "--show-log")}");
    }

    private string VmDir(string key) => Path.Combine(D.Dir, "storage-pools", "default", "virtual-machines", key);

    [Fact]
    public async Task A_vm_in_a_project_runs_beside_a_namesake_in_default_and_is_limited_listed_copied_and_deleted()
    {
        try
        {
            // Images and profiles shared with the default project: the VM image and lxdbr0's eth0 are usable there.
            await LxcOkAsync("project", "create", Project, "-c", "features.images=false", "-c", "features.profiles=false",
                "-c", "limits.virtual-machines=1");
            await LxcOkAsync("launch", "--vm", VmDaemon.VmAlias, "v1", "--project", Project);
            // The same name in the default project: a second domain, not a collision with the first.
            await LxcOkAsync("launch", "--vm", VmDaemon.VmAlias, "v1");
            await WaitForAgentAsync("v1", Project);
            await VmDaemon.WaitForAgentAsync(D, "v1");

            // Two different guests (two boots), each named after its instance, not its storage key.
            var bootP = (await LxcOkAsync("exec", "v1", "--project", Project, "--", "cat", "/proc/sys/kernel/random/boot_id")).Trim();
            var bootD = (await LxcOkAsync("exec", "v1", "--", "cat", "/proc/sys/kernel/random/boot_id")).Trim();
            Assert.NotEqual(bootP, bootD);
            Assert.Equal("v1", (await LxcOkAsync("exec", "v1", "--project", Project, "--", "hostname")).Trim());
            Assert.Equal("in-pvm", (await LxcOkAsync("exec", "v1", "--project", Project, "--", "echo", "in-pvm")).Trim());
            // Errors name the instance as the client knows it, never its storage key.
            var missing = await LxcFailsAsync("file", "pull", "v1/no/such/file", Path.Combine(D.Dir, "vmproject-nope"), "--project", Project);
            Assert.Contains("virtual machine \"v1\"", missing);
            Assert.DoesNotContain($"{Project}_v1", missing);
            var pidP = (await ListJsonAsync("v1", Project)).GetProperty("state").GetProperty("pid").GetInt32();
            var pidD = await VmDaemon.QemuPidAsync(D, "v1");
            Assert.NotEqual(pidP, pidD);
            Assert.StartsWith("qemu-system", VmDaemon.Comm(pidP));
            Assert.Matches(@"(?m)^accelerator: (kvm|tcg) ", await LxcOkAsync("info", "v1", "--project", Project, "--show-log"));

            // Listed per project, by its own name, and with its project under --all-projects.
            Assert.Equal("v1,VIRTUAL-MACHINE,RUNNING", (await LxcOkAsync("list", "--project", Project, "-c", "nts", "--format", "csv")).Trim());
            var all = (await LxcOkAsync("list", "--all-projects", "-c", "enst", "--format", "csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains($"{Project},v1,RUNNING,VIRTUAL-MACHINE", all);
            Assert.Contains("default,v1,RUNNING,VIRTUAL-MACHINE", all);
            var api = await D.Api.GetAsync("/1.0/instances?recursion=1&all-projects=true");
            Assert.Contains(api.Metadata.EnumerateArray(), i => i.GetProperty("name").GetString() == "v1" && i.GetProperty("project").GetString() == Project
                && i.GetProperty("type").GetString() == "virtual-machine");
            var both = await D.Api.GetAsync($"/1.0/instances?all-projects=true&project={Project}");
            Assert.Equal(HttpStatusCode.BadRequest, both.Status);
            Assert.Contains("Cannot specify a project when requesting all projects", both.Error);

            // Its volume: named v1 in the project, stored under the project's key, apart from the default one's.
            var volumes = (await LxcOkAsync("storage", "volume", "list", "default", "--project", Project, "--format", "csv", "-c", "tn")).Split('\n');
            Assert.Single(volumes, l => l == "virtual-machine,v1"); // its own only: the default project's v1 is not listed here
            Assert.DoesNotContain(volumes, l => l.Contains($"{Project}_v1", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(VmDir($"{Project}_v1"), "root.img")), string.Join(", ", Directory.GetDirectories(Path.GetDirectoryName(VmDir("x"))!)));
            Assert.True(File.Exists(Path.Combine(VmDir("v1"), "root.img")));
            var vol = await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/virtual-machine/v1?project={Project}");
            Assert.True(vol.Status == HttpStatusCode.OK, vol.ToString());
            Assert.Equal("v1", vol.Metadata.GetProperty("name").GetString());

            // limits.virtual-machines=1: a second VM is refused (even unstarted); a container is not a VM.
            var refused = await LxcFailsAsync("init", "--vm", VmDaemon.VmAlias, "v2", "--project", Project);
            Assert.Contains($"Reached maximum number of instances of type \"virtual-machine\" in project \"{Project}\"", refused);
            Assert.Contains("v1", (await LxcOkAsync("list", "--project", Project, "-c", "n", "--format", "csv")).Trim());
            Assert.DoesNotContain("v2", await LxcOkAsync("list", "--project", Project, "-c", "n", "--format", "csv"));
            Assert.False(Directory.Exists(VmDir($"{Project}_v2")));
            Assert.Contains("limits.virtual-machines", refused + await LxcOkAsync("project", "info", Project));

            // Stop, snapshot, copy (within the raised limit), all through the project.
            await LxcOkAsync("exec", "v1", "--project", Project, "--", "sh", "-c", "echo project-disk > /mnt/disk/marker; sync");
            await LxcOkAsync("stop", "v1", "--project", Project, "--force");
            Assert.Equal("v1,VIRTUAL-MACHINE,STOPPED", (await LxcOkAsync("list", "--project", Project, "-c", "nts", "--format", "csv")).Trim());
            Assert.Equal("RUNNING", (await ListJsonAsync("v1", "default")).GetProperty("status").GetString()!.ToUpperInvariant());
            await LxcOkAsync("snapshot", "v1", "s0", "--project", Project);
            Assert.Contains("s0", await LxcOkAsync("info", "v1", "--project", Project));
            Assert.DoesNotContain("s0", await LxcOkAsync("info", "v1"));
            Assert.Contains("maximum number", await LxcFailsAsync("copy", "v1", "v1c", "--project", Project));
            await LxcOkAsync("project", "set", Project, "limits.virtual-machines=2");
            await LxcOkAsync("copy", "v1", "v1c", "--project", Project);
            Assert.Equal(new[] { "v1,VIRTUAL-MACHINE,STOPPED", "v1c,VIRTUAL-MACHINE,STOPPED" },
                (await LxcOkAsync("list", "--project", Project, "-c", "nts", "--format", "csv")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.True(File.Exists(Path.Combine(VmDir($"{Project}_v1c"), "root.img")));
            Assert.Contains($"/1.0/instances/v1c?project={Project}", (await D.Api.GetAsync("/1.0/projects/" + Project)).Metadata.GetProperty("used_by").ToString());

            // Deleted through the project: the default project's namesake keeps running.
            await LxcOkAsync("delete", "v1c", "--project", Project);
            await LxcOkAsync("delete", "v1", "--project", Project);
            Assert.Equal("", (await LxcOkAsync("list", "--project", Project, "-c", "n", "--format", "csv")).Trim());
            Assert.False(Directory.Exists(VmDir($"{Project}_v1")));
            Assert.False(Directory.Exists(VmDir($"{Project}_v1c")));
            Assert.Null(VmDaemon.Comm(pidP));
            Assert.Equal(pidD, await VmDaemon.QemuPidAsync(D, "v1"));
            Assert.Equal("still", (await LxcOkAsync("exec", "v1", "--", "echo", "still")).Trim());
            await LxcOkAsync("project", "delete", Project);
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "v1c", "--project", Project);
            await D.LxcAsync("delete", "--force", "v1", "--project", Project);
            await D.LxcAsync("delete", "--force", "v1");
            await D.LxcAsync("project", "delete", Project);
        }
    }

    private async Task<JsonElement> ListJsonAsync(string name, string project)
    {
        var json = await LxcOkAsync("list", name, "--project", project, "--format", "json");
        var all = JsonDocument.Parse(json).RootElement.EnumerateArray().Where(i => i.GetProperty("name").GetString() == name).ToList();
        Assert.True(all.Count == 1, json);
        return all[0].Clone();
    }
}
