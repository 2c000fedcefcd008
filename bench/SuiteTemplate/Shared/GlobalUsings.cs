global using System.Data.Common;
global using Xunit;
