using System.Net;
using Hyperlxd.Tests.Infrastructure;

namespace Hyperlxd.Tests.Security;

/// <summary>
/// Issue 14: a certificate restricted to one project reaches that project's instances, and neither the
/// instances, the operations nor the events of another project (LXD 5.0.2 filters them by project).
/// </summary>
[Collection(RestrictedDaemonCollection.Name)]
public sealed class ProjectCertificateTests(RestrictedDaemon fixture)
{
    private ApiClient Admin => fixture.Daemon.Api;

    private static async Task WaitOkAsync(ApiClient client, ApiResponse accepted)
    {
        Assert.True(accepted.Status == HttpStatusCode.Accepted, accepted.ToString());
        var w = await client.GetAsync(accepted.Body.GetProperty("operation").GetString() + "/wait?timeout=90");
        Assert.True(w.Metadata.GetProperty("status").GetString() == "Success", w.ToString());
    }

    [Fact]
    public async Task A_certificate_of_one_project_does_not_see_another_projects_instances_or_operations()
    {
        // Its own images and profiles off: the default project's busybox and default profile apply.
        var created = await Admin.SendAsync(HttpMethod.Post, "/1.0/projects",
            """{"name": "team", "config": {"features.images": "false", "features.profiles": "false"}}""");
        Assert.True(created.Status == HttpStatusCode.OK, created.ToString());
        var cert = TestCertificates.CreateClient("team-cert");
        try
        {
            await fixture.TrustAsync(cert, "team-cert", restricted: true, "team");
            using var team = ApiClient.Https(fixture.HttpsPort, cert, fixture.Daemon.NetnsName);

            await WaitOkAsync(team, await team.SendAsync(HttpMethod.Post, "/1.0/instances?project=team",
                """{"name": "t1", "source": {"type": "image", "alias": "busybox"}}"""));
            await WaitOkAsync(Admin, await Admin.SendAsync(HttpMethod.Post, "/1.0/instances",
                """{"name": "d1", "source": {"type": "image", "alias": "busybox"}}"""));
            var listed = await team.GetAsync("/1.0/instances?project=team");
            Assert.Equal(new[] { "/1.0/instances/t1?project=team" }, listed.Metadata.EnumerateArray().Select(e => e.GetString()));
            Assert.Equal(HttpStatusCode.Forbidden, (await team.GetAsync("/1.0/instances")).Status);
            Assert.Equal(HttpStatusCode.Forbidden, (await team.GetAsync("/1.0/instances/d1")).Status);

            // A running operation of the default project: listed for the admin, hidden from the team.
            await WaitOkAsync(Admin, await Admin.SendAsync(HttpMethod.Put, "/1.0/instances/d1/state", """{"action": "start"}"""));
            var exec = await Admin.SendAsync(HttpMethod.Post, "/1.0/instances/d1/exec",
                """{"command": ["sleep", "60"], "wait-for-websocket": true, "interactive": false}""");
            Assert.True(exec.Status == HttpStatusCode.Accepted, exec.ToString());
            var op = exec.Body.GetProperty("operation").GetString()!;
            Assert.Contains(op, (await Admin.GetAsync("/1.0/operations")).Body.ToString());
            Assert.DoesNotContain(op, (await team.GetAsync("/1.0/operations?project=team")).Body.ToString());
            Assert.Equal(HttpStatusCode.NotFound, (await team.GetAsync(op)).Status);
            Assert.DoesNotContain(op, (await team.GetAsync("/1.0/operations?all-projects=true&recursion=1")).Body.ToString());
            await Admin.SendAsync(HttpMethod.Delete, op);

            // Events of another project: refused outright.
            var events = await team.GetAsync("/1.0/events?project=default");
            Assert.True(events.Status == HttpStatusCode.Forbidden, events.ToString());
        }
        finally
        {
            await fixture.Daemon.LxcAsync("delete", "--force", "t1", "--project", "team");
            await fixture.Daemon.LxcAsync("delete", "--force", "d1");
            await Admin.SendAsync(HttpMethod.Delete, "/1.0/certificates/" + TestCertificates.Fingerprint(cert));
            await Admin.SendAsync(HttpMethod.Delete, "/1.0/projects/team");
            cert.Dispose();
        }
    }

    [Fact]
    public async Task A_certificate_of_one_project_reaches_its_own_volumes_only()
    {
        var created = await Admin.SendAsync(HttpMethod.Post, "/1.0/projects", """{"name": "vteam", "config": {"features.profiles": "false"}}""");
        Assert.True(created.Status == HttpStatusCode.OK, created.ToString());
        var cert = TestCertificates.CreateClient("vteam-cert");
        try
        {
            await fixture.TrustAsync(cert, "vteam-cert", restricted: true, "vteam");
            using var team = ApiClient.Https(fixture.HttpsPort, cert, fixture.Daemon.NetnsName);
            Assert.Equal(HttpStatusCode.OK, (await Admin.PostAsync("/1.0/storage-pools/default/volumes/custom", """{"name": "admin-secret"}""")).Status);

            var mine = await team.PostAsync("/1.0/storage-pools/default/volumes/custom?project=vteam", """{"name": "team-vol"}""");
            Assert.True(mine.Status == HttpStatusCode.OK, mine.ToString());
            var listed = await team.GetAsync("/1.0/storage-pools/default/volumes/custom?project=vteam");
            Assert.Equal(new[] { "/1.0/storage-pools/default/volumes/custom/team-vol?project=vteam" }, listed.Metadata.EnumerateArray().Select(e => e.GetString()));

            // The default project's volumes: not listed, not read, not copied out by naming the project.
            Assert.Equal(HttpStatusCode.Forbidden, (await team.GetAsync("/1.0/storage-pools/default/volumes/custom")).Status);
            Assert.Equal(HttpStatusCode.NotFound, (await team.GetAsync("/1.0/storage-pools/default/volumes/custom/admin-secret?project=vteam")).Status);
            var steal = await team.PostAsync("/1.0/storage-pools/default/volumes/custom?project=vteam",
                """{"name": "stolen", "source": {"type": "copy", "name": "admin-secret", "pool": "default", "project": "default"}}""");
            Assert.True(steal.Status == HttpStatusCode.Forbidden, steal.ToString());
            var move = await team.PostAsync("/1.0/storage-pools/default/volumes/custom/team-vol?project=vteam", """{"name": "team-vol", "project": "default"}""");
            Assert.True(move.Status == HttpStatusCode.Forbidden, move.ToString());

            // And the admin's default project does not see the team's volume.
            Assert.DoesNotContain("team-vol", (await Admin.GetAsync("/1.0/storage-pools/default/volumes/custom")).Body.ToString());
        }
        finally
        {
            await Admin.DeleteAsync("/1.0/storage-pools/default/volumes/custom/team-vol?project=vteam");
            await Admin.DeleteAsync("/1.0/storage-pools/default/volumes/custom/admin-secret");
            await Admin.SendAsync(HttpMethod.Delete, "/1.0/certificates/" + TestCertificates.Fingerprint(cert));
            await Admin.SendAsync(HttpMethod.Delete, "/1.0/projects/vteam");
            cert.Dispose();
        }
    }
}
