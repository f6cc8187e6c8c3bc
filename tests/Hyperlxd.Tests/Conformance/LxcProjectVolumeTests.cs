using System.Net;
using System.Text.Json;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Issue 14: <c>features.storage.volumes</c> with the stock lxc 5.0.2 client — a project with its own custom
/// volumes keeps them apart from the default project's (same names, separate data), attaches them to its
/// instances, snapshots, copies, backs up and moves them (to another project too), lists them in used_by;
/// a project without the feature uses the default project's volumes; no name reaches another project's.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcProjectVolumeTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    private Task<string> LxcFailsAsync(params string[] args) => D.LxcFailsAsync(args);

    private async Task<List<string>> CustomVolumesAsync(string project) =>
        (await LxcOkAsync("storage", "volume", "list", "default", "--project", project, "--format", "csv", "-c", "tn"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("custom,", StringComparison.Ordinal))
            .Select(l => l["custom,".Length..].Trim()).OrderBy(s => s, StringComparer.Ordinal).ToList();

    private async Task<List<string>> UsedByAsync(string url)
    {
        var r = await D.Api.GetAsync(url);
        Assert.True(r.Status == HttpStatusCode.OK, r.ToString());
        return r.Metadata.GetProperty("used_by").EnumerateArray().Select(e => e.GetString()!).OrderBy(s => s, StringComparer.Ordinal).ToList();
    }

    [Fact]
    public async Task A_project_with_its_own_volumes_keeps_them_apart_and_uses_them()
    {
        const string p = "pvol", vol = "pv-data";
        try
        {
            // features.storage.volumes is on by default for a new project (LXD); its instances use default's images and profiles here.
            await LxcOkAsync("project", "create", p, "-c", "features.profiles=false", "-c", "features.images=false");
            Assert.Contains("features.storage.volumes: \"true\"", await LxcOkAsync("project", "show", p));

            // The same name in both projects: two volumes, two sets of data.
            await LxcOkAsync("storage", "volume", "create", "default", vol);
            await LxcOkAsync("storage", "volume", "create", "default", vol, "--project", p, "user.owner=project");
            Assert.Contains(vol, await CustomVolumesAsync(p));
            Assert.Contains(vol, await CustomVolumesAsync("default"));
            var shown = (await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{vol}?project={p}")).Metadata;
            Assert.Equal(vol, shown.GetProperty("name").GetString());
            Assert.Equal(p, shown.GetProperty("project").GetString());
            Assert.Equal("project", shown.GetProperty("config").GetProperty("user.owner").GetString());
            Assert.False((await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{vol}")).Metadata.GetProperty("config").TryGetProperty("user.owner", out _));
            var list = await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom?project={p}");
            Assert.Contains($"/1.0/storage-pools/default/volumes/custom/{vol}?project={p}", list.Metadata.EnumerateArray().Select(e => e.GetString()));

            // On disk the project's volumes have a directory of their own, closed to host users as custom/ is.
            var projectDir = Path.Combine(D.Dir, "storage-pools", "default", "custom_" + p);
            Assert.True(Directory.Exists(Path.Combine(projectDir, vol)));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(projectDir));

            // Attached to a container of the project (and default's to one of default): each sees its own.
            await LxcOkAsync("init", "busybox", "pvc", "--project", p);
            await LxcOkAsync("init", "busybox", "pvd");
            await using (new LaunchedContainer(fixture, "pvd"))
            {
                await LxcOkAsync("storage", "volume", "attach", "default", vol, "pvc", "/mnt/v", "--project", p);
                await LxcOkAsync("storage", "volume", "attach", "default", vol, "pvd", "/mnt/v");
                await LxcOkAsync("start", "pvc", "--project", p);
                await LxcOkAsync("start", "pvd");
                await LxcOkAsync("exec", "pvc", "--project", p, "--", "sh", "-c", "echo in-project > /mnt/v/f");
                await LxcOkAsync("exec", "pvd", "--", "sh", "-c", "echo in-default > /mnt/v/f");
                Assert.Equal("in-project\n", await LxcOkAsync("exec", "pvc", "--project", p, "--", "cat", "/mnt/v/f"));
                Assert.Equal("in-default\n", await LxcOkAsync("exec", "pvd", "--", "cat", "/mnt/v/f"));

                // used_by: each volume its own project's instance; the project's used_by lists its volume.
                Assert.Equal(new[] { $"/1.0/instances/pvc?project={p}" }, await UsedByAsync($"/1.0/storage-pools/default/volumes/custom/{vol}?project={p}"));
                Assert.Equal(new[] { "/1.0/instances/pvd" }, await UsedByAsync($"/1.0/storage-pools/default/volumes/custom/{vol}"));
                Assert.Contains($"/1.0/storage-pools/default/volumes/custom/{vol}?project={p}", await UsedByAsync($"/1.0/projects/{p}"));
                Assert.DoesNotContain($"/1.0/storage-pools/default/volumes/custom/{vol}?project={p}", await UsedByAsync("/1.0/projects/default"));

                // The project's instance volume is listed by the instance's name, not by its storage key.
                var rows = await LxcOkAsync("storage", "volume", "list", "default", "--project", p, "--format", "csv", "-c", "tn");
                Assert.Contains("container,pvc", rows);
                Assert.DoesNotContain("_pvc", rows);
                Assert.DoesNotContain("container,pvd", rows);

                // In use: neither deleted nor is the project.
                Assert.Contains("still in use", await LxcFailsAsync("storage", "volume", "delete", "default", vol, "--project", p));
                Assert.Contains("Only empty projects can be removed", await LxcFailsAsync("project", "delete", p));
                await LxcOkAsync("stop", "pvc", "--project", p, "--force");
                await LxcOkAsync("storage", "volume", "detach", "default", vol, "pvc", "--project", p);
                await LxcOkAsync("storage", "volume", "detach", "default", vol, "pvd");
            }

            // Snapshots, restore, copy and backups, all in the project.
            await LxcOkAsync("storage", "volume", "snapshot", "default", vol, "s0", "--project", p);
            var snaps = await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{vol}/snapshots?project={p}");
            Assert.Equal($"/1.0/storage-pools/default/volumes/custom/{vol}/snapshots/s0?project={p}", snaps.Metadata[0].GetString());
            Assert.Equal(0, (await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{vol}/snapshots")).Metadata.GetArrayLength());
            var file = Path.Combine(projectDir, vol, "f");
            await File.WriteAllTextAsync(file, "changed\n");
            await LxcOkAsync("storage", "volume", "restore", "default", vol, "s0", "--project", p);
            Assert.Equal("in-project\n", await File.ReadAllTextAsync(file));

            await LxcOkAsync("storage", "volume", "copy", "default/" + vol, "default/pv-copy", "--project", p);
            Assert.Equal(new[] { "pv-copy", vol }, await CustomVolumesAsync(p));
            Assert.DoesNotContain("pv-copy", await CustomVolumesAsync("default"));
            Assert.Equal("in-project\n", await File.ReadAllTextAsync(Path.Combine(projectDir, "pv-copy", "f")));

            var tarball = Path.Combine(D.Dir, "pv-backup.tar.gz");
            await LxcOkAsync("storage", "volume", "export", "default", vol, tarball, "--project", p);
            await LxcOkAsync("storage", "volume", "import", "default", tarball, "pv-imported", "--project", p);
            Assert.Equal("in-project\n", await File.ReadAllTextAsync(Path.Combine(projectDir, "pv-imported", "f")));
            Assert.DoesNotContain("pv-imported", await CustomVolumesAsync("default"));
            File.Delete(tarball);

            // Rename within the project; move to the default project (--target-project: storage_volume_project_move).
            await LxcOkAsync("storage", "volume", "rename", "default", "pv-copy", "pv-renamed", "--project", p);
            await LxcOkAsync("storage", "volume", "move", "default/pv-renamed", "default/pv-moved", "--project", p, "--target-project", "default");
            Assert.Contains("pv-moved", await CustomVolumesAsync("default"));
            Assert.DoesNotContain("pv-renamed", await CustomVolumesAsync(p));
            Assert.Equal("in-project\n", await File.ReadAllTextAsync(Path.Combine(D.Dir, "storage-pools", "default", "custom", "pv-moved", "f")));
            // And a copy from the default project into the project (lxc copies with the target project's URL and source.project).
            await LxcOkAsync("storage", "volume", "copy", "default/pv-moved", "default/pv-back", "--target-project", p);
            Assert.Contains("pv-back", await CustomVolumesAsync(p));

            // all-projects lists both, each with its project.
            var all = await LxcOkAsync("storage", "volume", "list", "default", "--all-projects", "--format", "csv", "-c", "etn");
            Assert.Contains($"{p},custom,{vol}", all);
            Assert.Contains($"default,custom,{vol}", all);

            // Emptied, the project goes; the default project's volume of the same name stays untouched.
            await LxcOkAsync("delete", "pvc", "--project", p);
            foreach (var v in new[] { vol, "pv-imported", "pv-back" })
            {
                await LxcOkAsync("storage", "volume", "delete", "default", v, "--project", p);
            }
            await LxcOkAsync("project", "delete", p);
            Assert.Equal("in-default\n", await File.ReadAllTextAsync(Path.Combine(D.Dir, "storage-pools", "default", "custom", vol, "f")));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "pvc", "--project", p);
            await D.LxcAsync("delete", "--force", "pvd");
            foreach (var v in new[] { vol, "pv-copy", "pv-renamed", "pv-imported", "pv-back" })
            {
                await D.LxcAsync("storage", "volume", "delete", "default", v, "--project", p);
            }
            await D.LxcAsync("storage", "volume", "delete", "default", vol);
            await D.LxcAsync("storage", "volume", "delete", "default", "pv-moved");
            await D.LxcAsync("project", "delete", p);
        }
    }

    [Fact]
    public async Task A_project_without_the_feature_uses_the_default_projects_volumes()
    {
        const string p = "pnovol", vol = "pn-shared";
        try
        {
            await LxcOkAsync("project", "create", p, "-c", "features.profiles=false", "-c", "features.images=false", "-c", "features.storage.volumes=false");
            await LxcOkAsync("storage", "volume", "create", "default", vol);
            Assert.Contains(vol, await CustomVolumesAsync(p));
            var shown = (await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{vol}?project={p}")).Metadata;
            Assert.Equal("default", shown.GetProperty("project").GetString());

            // A volume made through the project is the default project's.
            await LxcOkAsync("storage", "volume", "create", "default", "pn-made", "--project", p);
            Assert.Contains("pn-made", await CustomVolumesAsync("default"));

            // Its instance attaches default's volume; used_by names the instance with its project.
            await File.WriteAllTextAsync(Path.Combine(D.Dir, "storage-pools", "default", "custom", vol, "seed"), "shared\n");
            await LxcOkAsync("init", "busybox", "pnc", "--project", p);
            await LxcOkAsync("storage", "volume", "attach", "default", vol, "pnc", "/mnt/s", "--project", p);
            await LxcOkAsync("start", "pnc", "--project", p);
            Assert.Equal("shared\n", await LxcOkAsync("exec", "pnc", "--project", p, "--", "cat", "/mnt/s/seed"));
            Assert.Equal(new[] { $"/1.0/instances/pnc?project={p}" }, await UsedByAsync($"/1.0/storage-pools/default/volumes/custom/{vol}"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "pnc", "--project", p);
            await D.LxcAsync("storage", "volume", "delete", "default", vol);
            await D.LxcAsync("storage", "volume", "delete", "default", "pn-made");
            await D.LxcAsync("project", "delete", p);
        }
    }

    [Fact]
    public async Task No_name_reaches_a_volume_of_another_project()
    {
        const string p = "pkey", vol = "pk-secret";
        try
        {
            await LxcOkAsync("project", "create", p, "-c", "features.profiles=false", "-c", "features.images=false");
            await LxcOkAsync("storage", "volume", "create", "default", vol, "--project", p);

            // Not by URL from the default project (plain, or with the key's '/' escaped)...
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{vol}")).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await D.Api.GetAsync($"/1.0/storage-pools/default/volumes/custom/{p}%2F{vol}")).Status);
            Assert.DoesNotContain(vol, await CustomVolumesAsync("default"));

            // ...nor by a new volume's name, a copy's target, a rename...
            var create = await D.Api.PostAsync("/1.0/storage-pools/default/volumes/custom", JsonSerializer.Serialize(new { name = $"{p}/x" }));
            Assert.Equal(HttpStatusCode.BadRequest, create.Status);
            Assert.Contains("slashes", create.Error);
            var copy = await D.Api.PostAsync("/1.0/storage-pools/default/volumes/custom",
                JsonSerializer.Serialize(new { name = "pk-steal", source = new { type = "copy", name = $"{p}/{vol}", pool = "default" } }));
            Assert.NotEqual(HttpStatusCode.Accepted, copy.Status);
            await LxcOkAsync("storage", "volume", "create", "default", "pk-mine");
            var rename = await D.Api.PostAsync("/1.0/storage-pools/default/volumes/custom/pk-mine", JsonSerializer.Serialize(new { name = $"{p}/pk-mine" }));
            Assert.Equal(HttpStatusCode.BadRequest, rename.Status);

            // ...nor by a disk device's source ("custom/PROJECT/NAME").
            await LxcOkAsync("init", "busybox", "pk-c");
            var device = await D.LxcAsync("config", "device", "add", "pk-c", "d", "disk", "pool=default", $"source=custom/{p}/{vol}", "path=/mnt");
            Assert.NotEqual(0, device.ExitCode);
            Assert.Contains("must specify the name of a custom volume", device.Stderr);

            // Naming the project (source.project, as lxc --target-project sends it) is how a copy crosses over:
            // for the admin here; a certificate restricted to other projects gets a 403 (ProjectCertificateTests).
            var cross = await D.Api.PostAsync("/1.0/storage-pools/default/volumes/custom",
                JsonSerializer.Serialize(new { name = "pk-copied", source = new { type = "copy", name = vol, pool = "default", project = p } }));
            Assert.True(cross.Status == HttpStatusCode.Accepted, cross.ToString());
            var done = await D.Api.GetAsync(cross.Body.GetProperty("operation").GetString() + "/wait?timeout=90");
            Assert.True(done.Metadata.GetProperty("status").GetString() == "Success", done.ToString());
            Assert.Contains("pk-copied", await CustomVolumesAsync("default"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "pk-c");
            await D.LxcAsync("storage", "volume", "delete", "default", vol, "--project", p);
            foreach (var v in new[] { "pk-mine", "pk-copied", "pk-steal" })
            {
                await D.LxcAsync("storage", "volume", "delete", "default", v);
            }
            await D.LxcAsync("project", "delete", p);
        }
    }

    [Fact]
    public async Task Limits_disk_counts_the_projects_volumes_and_restrictions_cover_their_snapshots_and_backups()
    {
        const string p = "plim", r = "prvol", pool = "plim-btrfs";
        try
        {
            await LxcOkAsync("storage", "create", pool, "btrfs", "size=1GiB");
            await LxcOkAsync("project", "create", p, "-c", "features.images=false", "-c", "features.profiles=false", "-c", "limits.disk=100MiB");

            // In a project with limits.disk, a volume needs a size, and the sizes add up to the limit.
            Assert.Contains("has no \"size\" config set", await LxcFailsAsync("storage", "volume", "create", pool, "nosize", "--project", p));
            await LxcOkAsync("storage", "volume", "create", pool, "a", "size=60MiB", "--project", p);
            Assert.Contains("Reached maximum aggregate value \"100MiB\" for \"limits.disk\"",
                await LxcFailsAsync("storage", "volume", "create", pool, "b", "size=60MiB", "--project", p));
            Assert.Contains("limits.disk", await LxcFailsAsync("storage", "volume", "set", pool, "a", "size=120MiB", "--project", p));
            await LxcOkAsync("storage", "volume", "create", pool, "b", "size=40MiB", "--project", p);
            Assert.Contains("limits.disk", await LxcFailsAsync("storage", "volume", "copy", $"{pool}/a", $"{pool}/c", "--project", p));
            // The default project is not limited: a copy out of the project is fine there.
            await LxcOkAsync("storage", "volume", "copy", $"{pool}/a", $"{pool}/plim-out", "--project", p, "--target-project", "default");
            Assert.Contains("\"limits.disk\" is too low", await LxcFailsAsync("project", "set", p, "limits.disk=50MiB"));

            // A restricted project blocks snapshots and backups of its volumes as of its instances (LXD's defaults).
            await LxcOkAsync("project", "create", r, "-c", "restricted=true");
            await LxcOkAsync("storage", "volume", "create", pool, "rv", "--project", r);
            Assert.Contains("restricted.snapshots", await LxcFailsAsync("storage", "volume", "snapshot", pool, "rv", "--project", r));
            var tarball = Path.Combine(D.Dir, "prvol.tar.gz");
            Assert.Contains("restricted.backups", await LxcFailsAsync("storage", "volume", "export", pool, "rv", tarball, "--project", r));
            Assert.False(File.Exists(tarball));
            await LxcOkAsync("project", "set", r, "restricted.snapshots=allow");
            await LxcOkAsync("storage", "volume", "snapshot", pool, "rv", "s0", "--project", r);
        }
        finally
        {
            foreach (var v in new[] { "a", "b", "c", "nosize" })
            {
                await D.LxcAsync("storage", "volume", "delete", pool, v, "--project", p);
            }
            await D.LxcAsync("storage", "volume", "delete", pool, "plim-out");
            await D.LxcAsync("storage", "volume", "delete", pool, "rv", "--project", r);
            await D.LxcAsync("project", "delete", p);
            await D.LxcAsync("project", "delete", r);
            await D.LxcAsync("storage", "delete", pool);
        }
    }
}
