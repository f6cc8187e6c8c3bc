using System.Text.Json;
using Hyperlxd.Tests.Images;
using Hyperlxd.Tests.Infrastructure;
using Hyperlxd.Tests.Instances;

namespace Hyperlxd.Tests.Conformance;

/// <summary>
/// Image metadata templates (create, rename, start triggers, create_only, LXD's variables), their
/// confinement to the rootfs, `lxc config metadata|template`, and image profiles, with the stock lxc.
/// </summary>
[Collection(ContainerDaemonCollection.Name)]
public sealed class LxcTemplateTests(ContainerDaemon fixture)
{
    private DaemonProcess D => fixture.Daemon;

    private Task<string> LxcOkAsync(params string[] args) => fixture.LxcOkAsync(args);

    /// <summary>Unique per run: the escape targets are looked for on the host under these names.</summary>
    private static readonly string Id = Guid.NewGuid().ToString("N")[..10];

    private const string Alias = "tpl-busybox";

    private static readonly SemaphoreSlim ImageLock = new(1, 1);

    /// <summary>The busybox image with templates, a symlink /etc/escape -> /run and a ".." template path, imported once.</summary>
    private async Task EnsureImageAsync()
    {
        await ImageLock.WaitAsync();
        try
        {
            if ((await D.LxcAsync("image", "show", Alias)).ExitCode == 0)
            {
                return;
            }
            var dir = Repo.TempDir("hlx-tplimg-");
            try
            {
                await RunOkAsync("tar", "-xzf", ImageFixture.Busybox, "-C", dir, "--numeric-owner");
                await File.WriteAllTextAsync(Path.Combine(dir, "metadata.yaml"), $$"""
                    architecture: x86_64
                    creation_date: 1700000000
                    properties:
                      os: busybox
                      description: templated busybox
                    templates:
                      /etc/hostname:
                        when: [create, copy, rename]
                        template: hostname.tpl
                      /etc/once:
                        when: [start]
                        create_only: true
                        template: once.tpl
                      /etc/every-start:
                        when: [start]
                        template: start.tpl
                        properties:
                          flavour: vanilla
                      /etc/new/dir/made:
                        when: [create]
                        template: once.tpl
                      /etc/escape/hlx-escape-{{Id}}:
                        when: [create]
                        template: once.tpl
                      /../../../../run/hlx-dotdot-{{Id}}:
                        when: [create]
                        template: once.tpl
                    """);
                var templates = Path.Combine(dir, "templates");
                Directory.CreateDirectory(templates);
                await File.WriteAllTextAsync(Path.Combine(templates, "hostname.tpl"), "{{ container.name }}\n");
                await File.WriteAllTextAsync(Path.Combine(templates, "once.tpl"), "first {{ trigger }} {{ instance.name }} {{ path }}\n");
                await File.WriteAllTextAsync(Path.Combine(templates, "start.tpl"),
                    "greeting={{ config_get(\"user.greeting\", \"none\") }} flavour={{ properties.flavour }} "
                    + "{% if container.privileged == \"false\" %}unprivileged{% else %}privileged{% endif %} "
                    + "{% for k, v in config %}{% if k == \"user.greeting\" %}[{{ k }}={{ v|upper }}]{% endif %}{% endfor %}"
                    + " arch={{ instance.architecture|default:\"?\" }} missing={{ config.nope|default:\"dflt\" }}\n");
                File.CreateSymbolicLink(Path.Combine(dir, "rootfs", "etc", "escape"), "/run");
                var tarball = Path.Combine(dir, "tpl.tar.gz");
                await RunOkAsync("tar", "-czf", tarball, "--numeric-owner", "-C", dir, "metadata.yaml", "templates", "rootfs");
                await LxcOkAsync("image", "import", tarball, "--alias", Alias);
            }
            finally
            {
                Directory.Delete(dir, true);
            }
        }
        finally
        {
            ImageLock.Release();
        }
    }

    private static async Task RunOkAsync(string program, params string[] args)
    {
        var r = await ProcessRunner.RunAsync(program, args);
        Assert.True(r.ExitCode == 0, $"{program} {string.Join(' ', args)}: {r}");
    }

    private async Task<LaunchedContainer> LaunchAsync(string name, params string[] extra)
    {
        await EnsureImageAsync();
        await D.LxcAsync("delete", "--force", name);
        await LxcOkAsync(["launch", Alias, name, .. extra]);
        return new LaunchedContainer(fixture, name);
    }

    private async Task<string> CatAsync(string name, string path) => await LxcOkAsync("exec", name, "--", "cat", path);

    [Fact]
    public async Task Hostname_on_create_and_rename_create_only_and_every_start()
    {
        await using var c = await LaunchAsync("tpl-a", "-c", "user.greeting=hi");
        Assert.Equal("tpl-a\n", await CatAsync(c.Name, "/etc/hostname"));
        Assert.Equal("first start tpl-a /etc/once\n", await CatAsync(c.Name, "/etc/once"));
        Assert.Equal("greeting=hi flavour=vanilla unprivileged [user.greeting=HI] arch=x86_64 missing=dflt\n", await CatAsync(c.Name, "/etc/every-start"));
        Assert.Equal("first create tpl-a /etc/new/dir/made\n", await CatAsync(c.Name, "/etc/new/dir/made"));
        Assert.Equal("0:0 644", (await LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%u:%g %a", "/etc/once")).Trim());
        Assert.Equal("0:0 755", (await LxcOkAsync("exec", c.Name, "--", "stat", "-c", "%u:%g %a", "/etc/new/dir")).Trim());
        // The pending trigger is cleared once applied.
        Assert.DoesNotContain("volatile.apply_template", await LxcOkAsync("config", "show", c.Name));

        await LxcOkAsync("exec", c.Name, "--", "sh", "-c", "echo changed > /etc/once; echo mine > /etc/new/dir/made");
        await LxcOkAsync("config", "set", c.Name, "user.greeting", "bye");
        await LxcOkAsync("restart", c.Name);
        Assert.Equal("changed\n", await CatAsync(c.Name, "/etc/once")); // create_only: kept
        Assert.Equal("mine\n", await CatAsync(c.Name, "/etc/new/dir/made")); // "create" ran once
        Assert.StartsWith("greeting=bye ", await CatAsync(c.Name, "/etc/every-start"));
        Assert.Equal("tpl-a\n", await CatAsync(c.Name, "/etc/hostname"));

        await LxcOkAsync("stop", c.Name);
        await LxcOkAsync("move", c.Name, "tpl-b");
        await using var renamed = new LaunchedContainer(fixture, "tpl-b");
        Assert.Contains("volatile.apply_template: rename", await LxcOkAsync("config", "show", "tpl-b"));
        await LxcOkAsync("start", "tpl-b");
        Assert.Equal("tpl-b\n", await CatAsync("tpl-b", "/etc/hostname"));
        Assert.Equal("mine\n", await CatAsync("tpl-b", "/etc/new/dir/made"));

        // A move to another pool (copy under a temporary name, then a rename) applies no template, as LXD's.
        await LxcOkAsync("storage", "create", "tpl-pool", "dir");
        try
        {
            await LxcOkAsync("exec", "tpl-b", "--", "sh", "-c", "echo kept > /etc/hostname");
            await LxcOkAsync("stop", "tpl-b");
            await LxcOkAsync("move", "tpl-b", "--storage", "tpl-pool");
            Assert.DoesNotContain("volatile.apply_template", await LxcOkAsync("config", "show", "tpl-b"));
            await LxcOkAsync("start", "tpl-b");
            Assert.Equal("kept\n", await CatAsync("tpl-b", "/etc/hostname")); // the rename template did not run
            Assert.Equal("mine\n", await CatAsync("tpl-b", "/etc/new/dir/made"));
        }
        finally
        {
            await D.LxcAsync("delete", "--force", "tpl-b");
            await D.LxcAsync("storage", "delete", "tpl-pool");
        }
    }

    [Fact]
    public async Task Template_paths_and_symlinks_stay_inside_the_rootfs()
    {
        await using var c = await LaunchAsync("tpl-escape");
        await LxcOkAsync("stop", c.Name);
        // /etc/escape -> /run and "/../../../../run/..." both resolve inside the container, never on the host.
        Assert.False(File.Exists($"/run/hlx-escape-{Id}"), "a symlink in the image led a template onto the host");
        Assert.False(File.Exists($"/run/hlx-dotdot-{Id}"), "a .. template path led onto the host");
        var dir = Repo.TempDir("hlx-tplpull-");
        try
        {
            await LxcOkAsync("file", "pull", $"{c.Name}/run/hlx-escape-{Id}", Path.Combine(dir, "a"));
            Assert.Equal($"first create tpl-escape /etc/escape/hlx-escape-{Id}\n", await File.ReadAllTextAsync(Path.Combine(dir, "a")));
            await LxcOkAsync("file", "pull", $"{c.Name}/run/hlx-dotdot-{Id}", Path.Combine(dir, "b"));
            Assert.StartsWith("first create tpl-escape", await File.ReadAllTextAsync(Path.Combine(dir, "b")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
        // A template file name that leaves templates/ is refused, by the API and when a start would read it.
        foreach (var bad in new[] { "../metadata.yaml", "a/b", "..", "x%00y" })
        {
            var r = await D.Api.SendAsync(HttpMethod.Post, $"/1.0/instances/{c.Name}/metadata/templates?path={bad}", "x");
            Assert.True(r.Status == System.Net.HttpStatusCode.BadRequest, $"{bad}: {r}");
            Assert.Contains("template name", r.Error);
        }
        var meta = await D.Api.GetAsync($"/1.0/instances/{c.Name}/metadata");
        var doc = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(meta.Metadata.GetRawText())!;
        doc["templates"] = JsonSerializer.SerializeToElement(new Dictionary<string, object>
        {
            ["/etc/leak"] = new { when = new[] { "start" }, template = "../../../../../../etc/shadow" },
        });
        var put = await D.Api.PutAsync($"/1.0/instances/{c.Name}/metadata", JsonSerializer.Serialize(doc));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, put.Status);
        Assert.Contains("template name", put.Error);
    }

    [Fact]
    public async Task Config_metadata_show_edit_and_template_create_list_show_edit_delete()
    {
        await using var c = await LaunchAsync("tpl-meta");
        var shown = await LxcOkAsync("config", "metadata", "show", c.Name);
        Assert.Contains("architecture: x86_64", shown);
        Assert.Contains("/etc/hostname:", shown);
        Assert.Contains("template: hostname.tpl", shown);

        var edited = shown.Replace("description: templated busybox", "description: edited by lxc", StringComparison.Ordinal);
        Assert.NotEqual(shown, edited);
        var r = await D.RunInNetnsAsync("lxc", ["config", "metadata", "edit", c.Name], D.Env, edited);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("description: edited by lxc", await LxcOkAsync("config", "metadata", "show", c.Name));
        Assert.Contains("/etc/hostname:", await LxcOkAsync("config", "metadata", "show", c.Name));

        await LxcOkAsync("config", "template", "create", c.Name, "new.tpl");
        Assert.Contains("new.tpl", await LxcOkAsync("config", "template", "list", c.Name));
        Assert.Contains("hostname.tpl", await LxcOkAsync("config", "template", "list", c.Name));
        r = await D.RunInNetnsAsync("lxc", ["config", "template", "edit", c.Name, "new.tpl"], D.Env, "hello {{ container.name }}\n");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("hello {{ container.name }}\n", await LxcOkAsync("config", "template", "show", c.Name, "new.tpl"));

        // The new template used on the next start through an edited metadata.yaml.
        var withNew = (await LxcOkAsync("config", "metadata", "show", c.Name)).Replace("templates:\n", "templates:\n  /etc/greeting:\n    when:\n    - start\n    template: new.tpl\n", StringComparison.Ordinal);
        r = await D.RunInNetnsAsync("lxc", ["config", "metadata", "edit", c.Name], D.Env, withNew);
        Assert.True(r.ExitCode == 0, r.ToString());
        await LxcOkAsync("restart", c.Name);
        Assert.Equal("hello tpl-meta\n", await CatAsync(c.Name, "/etc/greeting"));

        await LxcOkAsync("config", "template", "delete", c.Name, "new.tpl");
        Assert.DoesNotContain("new.tpl", await LxcOkAsync("config", "template", "list", c.Name));
        Assert.NotEqual(0, (await D.LxcAsync("config", "template", "show", c.Name, "new.tpl")).ExitCode);
    }

    [Fact]
    public async Task Image_profiles_apply_when_a_create_names_none()
    {
        await EnsureImageAsync();
        await D.LxcAsync("profile", "delete", "tpl-imgprof");
        await LxcOkAsync("profile", "create", "tpl-imgprof");
        try
        {
            await LxcOkAsync("profile", "set", "tpl-imgprof", "user.from-image-profile", "yes");
            var fp = (await D.Api.GetAsync("/1.0/images/aliases/" + Alias)).Metadata.GetProperty("target").GetString()!;
            var patch = await D.Api.PatchAsync("/1.0/images/" + fp, "{\"profiles\": [\"default\", \"tpl-imgprof\"]}");
            Assert.True(patch.Status == System.Net.HttpStatusCode.OK, patch.ToString());
            try
            {
                await using (var c = await LaunchAsync("tpl-prof"))
                {
                    Assert.Equal("yes", (await LxcOkAsync("config", "get", c.Name, "user.from-image-profile", "--expanded")).Trim());
                    Assert.Contains("tpl-imgprof", await LxcOkAsync("list", c.Name, "-c", "P", "--format", "csv"));
                }
                await using (var c = await LaunchAsync("tpl-prof2", "-p", "default"))
                {
                    Assert.DoesNotContain("tpl-imgprof", await LxcOkAsync("list", c.Name, "-c", "P", "--format", "csv"));
                }
            }
            finally
            {
                await D.Api.PatchAsync("/1.0/images/" + fp, "{\"profiles\": [\"default\"]}");
            }
        }
        finally
        {
            await D.LxcAsync("profile", "delete", "tpl-imgprof");
        }
    }
}
