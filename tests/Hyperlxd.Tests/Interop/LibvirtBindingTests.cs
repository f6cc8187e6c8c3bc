using System.Threading.Channels;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Tests.Interop;

/// <summary>
/// The libvirt binding against libvirt's built-in <c>test:///default</c> driver (in-process, no daemon, no
/// QEMU). That driver's state is shared by every connection of the process: each test uses domains of its
/// own name and removes them.
/// </summary>
public sealed class LibvirtBindingTests : IDisposable
{
    private const string TestUri = "test:///default";
    private static readonly TimeSpan EventWait = TimeSpan.FromSeconds(60); // only a guard against a hang

    private readonly LibvirtConnection _conn;
    private readonly List<string> _names = [];

    public LibvirtBindingTests()
    {
        Assert.True(Libvirt.TryLoad(out var reason), reason);
        _conn = LibvirtConnection.Open(TestUri);
    }

    public void Dispose()
    {
        foreach (var name in _names)
        {
            using var d = _conn.LookupDomain(name);
            if (d == null)
            {
                continue;
            }
            if (d.GetState().State != DomainState.Shutoff)
            {
                d.Destroy();
            }
            if (_conn.LookupDomain(name) is { } left)
            {
                using (left)
                {
                    left.Undefine();
                }
            }
        }
        _conn.Dispose();
    }

    private string NewName()
    {
        var name = "hlx-" + Guid.NewGuid().ToString("N")[..12];
        _names.Add(name);
        return name;
    }

    private static string DomainXml(string name) =>
        $"<domain type='test'><name>{name}</name><memory unit='KiB'>131072</memory><vcpu placement='static' current='1'>2</vcpu><os><type>hvm</type></os></domain>";

    [Fact]
    public void TryLoad_is_idempotent_and_reports_the_version()
    {
        Assert.True(Libvirt.TryLoad(out var reason));
        Assert.Null(reason);
        Assert.True(Libvirt.IsLoaded);
        Assert.True(Libvirt.Version >= new Version(6, 0), Libvirt.Version.ToString());
    }

    /// <summary>What TryLoad does on a host without libvirt: a reason naming the library, no exception.</summary>
    [Fact]
    public void A_missing_library_is_a_reason_not_an_exception()
    {
        var reason = Libvirt.TryOpen("libhyperlxd-no-such-libvirt.so.0", "libvirt-qemu.so.0", out var h, out var q);
        Assert.Contains("libhyperlxd-no-such-libvirt.so.0", reason);
        Assert.Equal(0, h);
        Assert.Equal(0, q);

        reason = Libvirt.TryOpen("libvirt.so.0", "libhyperlxd-no-such-libvirt-qemu.so.0", out h, out q);
        Assert.Contains("libhyperlxd-no-such-libvirt-qemu.so.0", reason);
        Assert.Equal(0, h);
    }

    [Fact]
    public void Open_reports_the_uri_and_the_default_domain()
    {
        Assert.Equal(TestUri, _conn.Uri);
        Assert.Contains("<capabilities>", _conn.CapabilitiesXml());

        var all = _conn.ListAllDomains();
        try
        {
            Assert.Contains("test", all.Select(d => d.Name));
        }
        finally
        {
            foreach (var d in all)
            {
                d.Dispose();
            }
        }

        using var test = _conn.LookupDomain("test");
        Assert.NotNull(test);
        Assert.Equal("test", test.Name);
        Assert.Equal(Guid.Parse("6695eb01-f6a4-8304-79aa-97f2502e193f"), test.Uuid);
        Assert.True(test.Id > 0);
        var info = test.GetInfo();
        Assert.Equal(DomainState.Running, info.State);
        Assert.Equal(2u, info.VirtCpus);
        Assert.Equal(8388608ul, info.MaxMemoryKiB);
        Assert.Equal(2097152ul, info.MemoryKiB);
        Assert.Equal(DomainState.Running, test.GetState().State);
        Assert.Contains("<name>test</name>", test.GetXmlDesc());
    }

    [Fact]
    public void A_missing_domain_is_null_on_lookup_and_error_42_on_use()
    {
        Assert.Null(_conn.LookupDomain("hlx-no-such-domain"));

        using var d = _conn.DefineXml(DomainXml(NewName()));
        d.Undefine();
        var e = Assert.Throws<LibvirtException>(() => d.GetInfo());
        Assert.Equal(42, e.Code);
        Assert.True(e.IsNoDomain);
        Assert.Equal("virDomainGetInfo", e.Call);
        Assert.False(string.IsNullOrEmpty(e.LibvirtMessage));
    }

    [Fact]
    public void An_action_that_does_not_apply_is_error_55()
    {
        using var d = _conn.DefineXml(DomainXml(NewName()));
        var e = Assert.Throws<LibvirtException>(d.Destroy);
        Assert.True(e.IsOperationInvalid, e.Message);
        d.Undefine();
    }

    [Fact]
    public async Task Define_create_suspend_resume_destroy_undefine_with_lifecycle_events()
    {
        var name = NewName();
        var events = Channel.CreateUnbounded<(DomainEventType Type, int Detail)>();
        using var subscription = _conn.OnLifecycle((domain, type, detail) =>
        {
            if (domain == name)
            {
                events.Writer.TryWrite((type, detail));
            }
        });

        async Task Expect(DomainEventType type)
        {
            using var cts = new CancellationTokenSource(EventWait);
            Assert.Equal(type, (await events.Reader.ReadAsync(cts.Token)).Type);
        }

        using var d = _conn.DefineXml(DomainXml(name));
        await Expect(DomainEventType.Defined);
        Assert.Equal(DomainState.Shutoff, d.GetState().State);
        Assert.Equal(-1, d.Id);
        Assert.Contains($"<name>{name}</name>", d.GetXmlDesc(DomainXmlFlags.Inactive));

        d.Create();
        await Expect(DomainEventType.Started);
        Assert.Equal(DomainState.Running, d.GetInfo().State);
        Assert.True(d.Id > 0);

        d.Suspend();
        await Expect(DomainEventType.Suspended);
        Assert.Equal(DomainState.Paused, d.GetState().State);

        d.Resume();
        await Expect(DomainEventType.Resumed);
        Assert.Equal(DomainState.Running, d.GetState().State);

        d.Destroy();
        await Expect(DomainEventType.Stopped);
        Assert.Equal(DomainState.Shutoff, d.GetState().State);

        d.Undefine();
        await Expect(DomainEventType.Undefined);
        Assert.Null(_conn.LookupDomain(name));
    }

    /// <summary>The test driver cannot start paused (QEMU can): it names the flag it got, which shows the value crossed as libvirt's.</summary>
    [Fact]
    public void Create_flags_reach_the_driver_with_libvirts_values()
    {
        using var d = _conn.DefineXml(DomainXml(NewName()));
        var e = Assert.Throws<LibvirtException>(() => d.Create(DomainCreateFlags.Paused));
        Assert.Contains("0x1", e.LibvirtMessage);
        Assert.Equal(DomainState.Shutoff, d.GetState().State);
        d.Undefine();
    }

    [Fact]
    public void A_transient_domain_is_gone_once_destroyed()
    {
        var name = NewName();
        using var d = _conn.CreateXml(DomainXml(name));
        Assert.Equal(DomainState.Running, d.GetState().State);
        using (var found = _conn.LookupDomain(name))
        {
            Assert.NotNull(found);
            Assert.Equal(d.Uuid, found.Uuid);
        }
        d.Destroy();
        Assert.Null(_conn.LookupDomain(name));
    }

    [Fact]
    public void Rename_vcpus_and_memory_change_the_definition()
    {
        using var d = _conn.DefineXml(DomainXml(NewName()));
        var renamed = NewName();
        d.Rename(renamed);
        using (var found = _conn.LookupDomain(renamed))
        {
            Assert.NotNull(found);
            Assert.Equal(d.Uuid, found.Uuid);
        }

        d.SetVcpus(2, DomainModificationImpact.Config);
        d.SetMemory(65536, DomainModificationImpact.Config);
        var info = d.GetInfo();
        Assert.Equal(2u, info.VirtCpus);
        Assert.Equal(65536ul, info.MemoryKiB);
        d.Undefine();
    }

    [Fact]
    public void The_guest_agent_call_reaches_libvirt_qemu_and_fails_cleanly_on_the_test_driver()
    {
        using var test = _conn.LookupDomain("test");
        Assert.NotNull(test);
        var e = Assert.Throws<LibvirtException>(() => test.QemuAgentCommand("{\"execute\":\"guest-ping\"}", 1));
        Assert.Equal("virDomainQemuAgentCommand", e.Call);
        Assert.NotEqual(0, e.Code);
    }

    [Fact]
    public async Task A_stream_is_created_and_an_unattached_one_fails_with_libvirt_errors()
    {
        using var stream = _conn.NewStream();
        Assert.True(stream.CanRead);
        Assert.True(stream.CanWrite);
        Assert.False(stream.CanSeek);

        // The test driver has no consoles: the error is libvirt's, on the stream's own call.
        using var test = _conn.LookupDomain("test");
        Assert.NotNull(test);
        Assert.Throws<LibvirtException>(() => test.OpenConsole(null, stream));
        await Assert.ThrowsAsync<LibvirtException>(async () => _ = await stream.ReadAsync(new byte[16]));
        Assert.Throws<LibvirtException>(() => stream.Write([1, 2, 3]));
    }

    [Fact]
    public void A_disposed_stream_refuses_io()
    {
        var stream = _conn.NewStream();
        stream.Dispose();
        Assert.False(stream.CanRead);
        Assert.ThrowsAny<ObjectDisposedException>(() => _ = stream.Read(new byte[4]));
    }
}
