// The helpers shared by every test project (tests/Shared), and by the files linked from TestDbKit.Tests.
global using TestDbKit.Tests.Common;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
